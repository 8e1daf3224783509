//! The report's chart (`docs/perf/latest.svg`), drawn with plotters' SVG backend: throughput
//! and p99 of every variant, grouped by binding, upstream and requests in flight, so a reader
//! sees at a glance how close the gateway's bar is to the hand-written handler's and how far
//! both are from direct gRPC and the database.
//!
//! Both panels use log scales: the values span from a few hundred purchases to tens of
//! thousands of reads per second, and on a log scale equal ratios are equal distances, which
//! is how the report asks to be read. Text needs no font files: without plotters' `ttf`
//! feature the SVG names a generic family (`sans-serif`) and the viewer picks the font.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Variant;
use crate::load::Operation;
use crate::report::{Report, Row};
use crate::upstream::UpstreamKind;

/// The picture's size in pixels.
const SIZE: (u32, u32) = (1280, 900);

/// Height of the title strip and of the legend strip.
const TITLE_HEIGHT: u32 = 50;
const LEGEND_HEIGHT: u32 = 40;

/// The share of a group's width its bars take (the rest separates groups).
const GROUP_FILL: f64 = 0.84;

const FONT: &str = "sans-serif";

/// Each variant's colour (Tableau 10: the HTTP variants' in-process and h2load rows in two
/// shades of one hue).
fn colour(variant: Variant) -> RGBColor {
    match variant {
        Variant::Pgbench => RGBColor(127, 127, 127),
        Variant::DirectGrpc => RGBColor(31, 119, 180),
        Variant::HandWritten => RGBColor(255, 127, 14),
        Variant::Gateway => RGBColor(44, 160, 44),
        Variant::H2loadHandWritten => RGBColor(255, 187, 120),
        Variant::H2loadGateway => RGBColor(152, 223, 138),
    }
}

/// One cluster of bars: a binding on an upstream at a number in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    upstream: UpstreamKind,
    operation: Operation,
    concurrency: usize,
}

impl Group {
    fn of(row: &Row) -> Self {
        Self {
            upstream: row.upstream,
            operation: row.operation,
            concurrency: row.concurrency,
        }
    }
}

/// The x axis: one unit per group, centred on whole numbers, labelled by the chart itself
/// (two lines per group, which plotters' axis labels cannot do).
#[derive(Debug, Clone)]
struct GroupAxis {
    groups: usize,
}

impl Ranged for GroupAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value + 0.5) / self.groups.max(1) as f64;
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.groups).map(|group| group as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.groups as f64 - 0.5
    }
}

impl ValueFormatter<f64> for GroupAxis {
    fn format(_value: &f64) -> String {
        // The chart writes the group labels itself.
        String::new()
    }
}

/// A logarithmic y axis over positive values, with its grid at 1, 2 and 5 times each power of
/// ten (labelled) and the other multiples (light lines). plotters' own log axis leaves values
/// below 1 unlabelled, and the p99s of fast paths are fractions of a millisecond.
#[derive(Debug, Clone)]
struct LogAxis {
    range: Range<f64>,
}

impl LogAxis {
    /// `multiples` of every power of ten within the range.
    fn points(&self, multiples: &[f64]) -> Vec<f64> {
        let (low, high) = (self.range.start, self.range.end);
        let first = low.log10().floor() as i32;
        let last = high.log10().ceil() as i32;
        (first..=last)
            .flat_map(|power| multiples.iter().map(move |m| m * 10_f64.powi(power)))
            // A relative tolerance: 10^k is not exact in binary.
            .filter(|v| *v >= low * (1.0 - 1e-9) && *v <= high * (1.0 + 1e-9))
            .collect()
    }
}

impl Ranged for LogAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (low, high) = (self.range.start.ln(), self.range.end.ln());
        let share = (value.max(self.range.start).ln() - low) / (high - low);
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let multiples: &[f64] = if hint.weight().allow_light_points() {
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
        } else {
            &[1.0, 2.0, 5.0]
        };
        let points = self.points(multiples);
        if points.len() <= hint.max_num_points() {
            points
        } else {
            self.points(&[1.0])
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for LogAxis {
    fn format(value: &f64) -> String {
        short(*value)
    }
}

/// `value` with at most three decimals and no trailing zeros: `0.2`, `5`, `0.05`.
fn short(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// What one panel shows of a row.
struct Panel {
    caption: &'static str,
    axis: &'static str,
    value: fn(&Row) -> f64,
    format: fn(f64) -> String,
}

/// `value` with a k suffix from 1,000 on ("20k"), as an axis label.
fn per_second(value: f64) -> String {
    if value >= 1_000.0 {
        format!("{}k", short(value / 1000.0))
    } else {
        short(value)
    }
}

fn milliseconds(value: f64) -> String {
    format!("{} ms", short(value))
}

/// A log axis from a power of ten at or below the smallest value to one at or above the
/// largest (never below 0.01, so a zero cannot break the scale).
fn log_bounds(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (low, high) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(low, high), v| {
            (low.min(v), high.max(v))
        });
    if !low.is_finite() {
        return 1.0..10.0;
    }
    let low = 10_f64.powf(low.log10().floor()).max(0.01);
    let high = 10_f64.powf(high.log10().ceil()).max(low * 10.0);
    low..high
}

/// The chart of `report` as an SVG document. Fails only if plotters does (it writes to a
/// string, so it should not); `Ok` with a "nothing measured" picture when the report has no
/// rows.
pub fn render(report: &Report) -> anyhow::Result<String> {
    let mut groups: Vec<Group> = Vec::new();
    for row in &report.rows {
        let group = Group::of(row);
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|variant| report.rows.iter().any(|row| row.variant == *variant))
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (title, rest) = root.split_vertically(TITLE_HEIGHT);
        let (panels, legend) = rest.split_vertically(SIZE.1 - TITLE_HEIGHT - LEGEND_HEIGHT);
        title.draw(&Text::new(
            "gateway-bench: throughput and p99 per variant, binding, upstream and requests in flight",
            (20, 14),
            (FONT, 20).into_font().style(FontStyle::Bold),
        ))?;
        title.draw(&Text::new(
            "docs/perf/latest.md has the numbers and the ratios; log scales, so equal ratios are equal distances",
            (20, 34),
            (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
        ))?;
        if groups.is_empty() {
            panels.draw(&Text::new("nothing measured", (40, 40), (FONT, 16)))?;
        } else {
            let halves = panels.split_evenly((2, 1));
            let throughput = Panel {
                caption: "Throughput (req/s, median of the rounds; higher is better)",
                axis: "req/s",
                value: |row| row.sample.median_throughput(),
                format: per_second,
            };
            let latency = Panel {
                caption: "p99 latency (ms, all rounds; lower is better)",
                axis: "p99 (ms)",
                value: |row| row.sample.quantile(0.99).as_secs_f64() * 1000.0,
                format: milliseconds,
            };
            for (area, panel) in halves.iter().zip([throughput, latency]) {
                draw_panel(&root, area, &panel, report, &groups, &variants)?;
            }
        }
        draw_legend(&legend, &variants)?;
        root.present()?;
    }
    Ok(svg)
}

/// One panel: a bar per variant in each group, the group labels under the axis.
fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    report: &Report,
    groups: &[Group],
    variants: &[Variant],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let bounds = log_bounds(report.rows.iter().map(panel.value));
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, (FONT, 16))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(
            GroupAxis {
                groups: groups.len(),
            },
            LogAxis {
                range: bounds.clone(),
            },
        )
        .map_err(|err| anyhow::anyhow!("laying out the chart: {err}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(panel.axis)
        .y_label_formatter(&|value| (panel.format)(*value))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|err| anyhow::anyhow!("drawing the axes: {err}"))?;

    let slot = GROUP_FILL / variants.len().max(1) as f64;
    let bars = report.rows.iter().filter_map(|row| {
        let group = groups.iter().position(|g| *g == Group::of(row))?;
        let index = variants.iter().position(|v| *v == row.variant)?;
        let left = group as f64 - GROUP_FILL / 2.0 + slot * index as f64;
        let value = (panel.value)(row).max(bounds.start);
        Some(Rectangle::new(
            [
                (left + slot * 0.08, bounds.start),
                (left + slot * 0.92, value),
            ],
            colour(row.variant).filled(),
        ))
    });
    chart
        .draw_series(bars)
        .map_err(|err| anyhow::anyhow!("drawing the bars: {err}"))?;

    // Group labels: the binding, then the upstream and the number in flight; a thin line
    // between upstreams.
    let label = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let detail = (FONT, 11)
        .into_font()
        .color(&RGBColor(90, 90, 90))
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (index, group) in groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(index as f64, bounds.start));
        root.draw(&Text::new(
            group.operation.short_label(),
            (x, y + 8),
            label.clone(),
        ))?;
        root.draw(&Text::new(
            format!(
                "{} · {} in flight",
                group.upstream.name(),
                group.concurrency
            ),
            (x, y + 24),
            detail.clone(),
        ))?;
        if index > 0 && groups[index - 1].upstream != group.upstream {
            let (top_x, top_y) = chart.backend_coord(&(index as f64 - 0.5, bounds.end));
            root.draw(&PathElement::new(
                vec![(top_x, top_y), (top_x, y)],
                RGBColor(160, 160, 160).stroke_width(1),
            ))?;
        }
    }
    Ok(())
}

/// The variants' colours, in one row.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    variants: &[Variant],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut x = 90;
    for &variant in variants {
        area.draw(&Rectangle::new(
            [(x, 12), (x + 16, 26)],
            colour(variant).filled(),
        ))?;
        area.draw(&Text::new(
            variant.label(),
            (x + 22, 12),
            (FONT, 13).into_font(),
        ))?;
        // The naive text measure plotters uses without fonts: wide enough for these labels.
        x += 40 + 7 * variant.label().len() as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use plotters::coord::ranged1d::BoldPoints;

    use super::*;

    #[test]
    fn log_bounds_are_powers_of_ten_around_the_values() {
        assert_eq!(log_bounds([230.0, 27_000.0].into_iter()), 100.0..100_000.0);
        assert_eq!(log_bounds([0.2, 3.0].into_iter()), 0.1..10.0);
        // A single value still gets a decade; zeros and NaN are ignored.
        assert_eq!(log_bounds([5.0, 0.0, f64::NAN].into_iter()), 1.0..10.0);
        assert_eq!(log_bounds(std::iter::empty()), 1.0..10.0);
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(per_second(20_000.0), "20k");
        assert_eq!(per_second(1_000.0), "1k");
        assert_eq!(per_second(100.0), "100");
        assert_eq!(milliseconds(10.0), "10 ms");
        assert_eq!(milliseconds(0.1), "0.1 ms");
        assert_eq!(milliseconds(2.0 * 0.1), "0.2 ms");
        assert_eq!(milliseconds(0.05), "0.05 ms");
    }

    #[test]
    fn the_log_axis_marks_one_two_five_per_decade() {
        let axis = LogAxis { range: 0.1..10.0 };
        let labelled = axis.key_points(BoldPoints(10));
        let shown: Vec<String> = labelled.iter().map(|v| short(*v)).collect();
        assert_eq!(shown, ["0.1", "0.2", "0.5", "1", "2", "5", "10"]);
        // Too many for the hint: the powers of ten alone.
        assert_eq!(axis.key_points(BoldPoints(4)).len(), 3);
        assert_eq!(axis.map(&0.1, (0, 200)), 0);
        assert_eq!(axis.map(&1.0, (0, 200)), 100);
        assert_eq!(axis.map(&10.0, (0, 200)), 200);
    }

    #[test]
    fn an_empty_report_still_draws() {
        let svg = render(&Report::default()).expect("drawn");
        assert!(
            svg.starts_with("<svg") && svg.contains("nothing measured"),
            "{svg}"
        );
    }

    #[test]
    fn the_group_axis_puts_groups_at_whole_numbers() {
        let axis = GroupAxis { groups: 4 };
        assert_eq!(axis.key_points(4_usize), vec![0.0, 1.0, 2.0, 3.0]);
        // Group 0's centre is an eighth of the way along 4 groups, group 3's seven eighths.
        assert_eq!(axis.map(&0.0, (0, 800)), 100);
        assert_eq!(axis.map(&3.0, (0, 800)), 700);
    }
}
