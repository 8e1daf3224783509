//! Regular expressions that match exactly the canonical decimal strings of the integers in a
//! range, for the 64-bit integer fields proto3 JSON writes as strings.
//!
//! A pattern such as `^-?[0-9]+$` admits `105443190856526047299870`, which the gateway rejects
//! (it does not fit an int64): the document would call valid a value the gateway refuses. The
//! patterns here follow the type's range and the field's `buf.validate` bounds instead.
//! Canonical means no `+`, no leading zeros and no `-0`: the form the gateway writes and the
//! form clients are told to send.
//!
//! The output is valid as both an ECMA-262 pattern (what OpenAPI specifies) and a Rust `regex`.

/// The anchored pattern of the integers in `lo..=hi`, or `None` when the range is empty.
pub(crate) fn range_pattern(lo: i128, hi: i128) -> Option<String> {
    if lo > hi {
        return None;
    }
    let mut alternatives = Vec::new();
    // Magnitudes: `neg` for the negatives (`-neg.0 ..= -neg.1` reversed), `pos` for the positives.
    let neg = (lo < 0).then(|| (hi.min(-1).unsigned_abs(), lo.unsigned_abs()));
    let pos = (hi > 0).then(|| (lo.max(1).unsigned_abs(), hi.unsigned_abs()));
    let group = |sign: &str, (from, to): (u128, u128)| {
        let parts = positive_alternatives(from, to);
        if parts.len() == 1 {
            format!("{sign}{}", parts[0])
        } else {
            format!("{sign}(?:{})", parts.join("|"))
        }
    };
    if lo <= 0 && hi >= 0 {
        alternatives.push("0".to_owned());
    }
    match (neg, pos) {
        // Both signs from 1: the magnitudes they share once, under an optional sign (this
        // halves an int64's pattern), then what only one side has.
        (Some((1, neg_to)), Some((1, pos_to))) => {
            let shared = neg_to.min(pos_to);
            alternatives.push(group("-?", (1, shared)));
            if neg_to > shared {
                alternatives.push(group("-", (shared + 1, neg_to)));
            }
            if pos_to > shared {
                alternatives.extend(positive_alternatives(shared + 1, pos_to));
            }
        }
        (neg, pos) => {
            alternatives.extend(neg.map(|range| group("-", range)));
            if let Some((from, to)) = pos {
                alternatives.extend(positive_alternatives(from, to));
            }
        }
    }
    Some(if alternatives.len() == 1 {
        format!("^{}$", alternatives[0])
    } else {
        format!("^(?:{})$", alternatives.join("|"))
    })
}

/// Alternatives matching the decimal strings of `lo..=hi`, with `1 <= lo <= hi`.
fn positive_alternatives(lo: u128, hi: u128) -> Vec<String> {
    let (lo_len, hi_len) = (digits(lo), digits(hi));
    let mut out = Vec::new();
    // Lengths covered entirely (every number of that many digits) collapse into one alternative.
    let mut full: Option<(usize, usize)> = None;
    let flush = |full: &mut Option<(usize, usize)>, out: &mut Vec<String>| {
        if let Some((first, last)) = full.take() {
            out.push(format!("[1-9]{}", any_digits(first - 1, last - 1)));
        }
    };
    for len in lo_len..=hi_len {
        let smallest = pow10(len - 1);
        let largest = pow10(len) - 1;
        let (from, to) = (lo.max(smallest), hi.min(largest));
        if from == smallest && to == largest {
            full = Some(match full {
                Some((first, _)) => (first, len),
                None => (len, len),
            });
            continue;
        }
        flush(&mut full, &mut out);
        out.extend(same_length(
            from.to_string().as_bytes(),
            to.to_string().as_bytes(),
        ));
    }
    flush(&mut full, &mut out);
    out
}

/// Alternatives matching every digit string from `lo` to `hi` (equal lengths, `lo <= hi`).
fn same_length(lo: &[u8], hi: &[u8]) -> Vec<String> {
    let (Some((&a, lo_rest)), Some((&b, hi_rest))) = (lo.split_first(), hi.split_first()) else {
        return vec![String::new()];
    };
    let rest = lo_rest.len();
    if a == b {
        return same_length(lo_rest, hi_rest)
            .into_iter()
            .map(|tail| format!("{}{tail}", char::from(a)))
            .collect();
    }
    let lo_rest_zero = lo_rest.iter().all(|&d| d == b'0');
    let hi_rest_nine = hi_rest.iter().all(|&d| d == b'9');
    let mut out = Vec::new();
    // The first digit's own numbers whose tails are constrained, then the digits in between
    // with any tail, then the last digit's.
    let middle_from = if lo_rest_zero {
        a
    } else {
        let nines = vec![b'9'; rest];
        out.extend(
            same_length(lo_rest, &nines)
                .into_iter()
                .map(|tail| format!("{}{tail}", char::from(a))),
        );
        a + 1
    };
    let middle_to = if hi_rest_nine { b } else { b - 1 };
    if middle_from <= middle_to {
        out.push(format!(
            "{}{}",
            digit_class(middle_from, middle_to),
            any_digits(rest, rest)
        ));
    }
    if !hi_rest_nine {
        let zeros = vec![b'0'; rest];
        out.extend(
            same_length(&zeros, hi_rest)
                .into_iter()
                .map(|tail| format!("{}{tail}", char::from(b))),
        );
    }
    out
}

/// `[a-b]`, or the digit itself when `a == b`.
fn digit_class(a: u8, b: u8) -> String {
    if a == b {
        char::from(a).to_string()
    } else {
        format!("[{}-{}]", char::from(a), char::from(b))
    }
}

/// From `min` to `max` arbitrary digits.
fn any_digits(min: usize, max: usize) -> String {
    match (min, max) {
        (0, 0) => String::new(),
        (1, 1) => "[0-9]".to_owned(),
        (min, max) if min == max => format!("[0-9]{{{min}}}"),
        (min, max) => format!("[0-9]{{{min},{max}}}"),
    }
}

fn digits(n: u128) -> usize {
    n.to_string().len()
}

fn pow10(exp: usize) -> u128 {
    (0..exp).fold(1, |acc, _| acc * 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const I64: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);

    fn re(lo: i128, hi: i128) -> Regex {
        let pattern = range_pattern(lo, hi).expect("non-empty range");
        Regex::new(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    /// Checks the boundaries of `lo..=hi` and the usual impostors.
    fn check_bounds(lo: i128, hi: i128) {
        let r = re(lo, hi);
        let yes = |n: i128| assert!(r.is_match(&n.to_string()), "{lo}..={hi} rejects {n}: {r}");
        let no = |s: &str| assert!(!r.is_match(s), "{lo}..={hi} admits {s}: {r}");
        yes(lo);
        yes(hi);
        no(&(lo - 1).to_string());
        no(&(hi + 1).to_string());
        if lo <= 0 && 0 <= hi {
            yes(0);
        }
        for n in [lo, hi, lo + (hi - lo) / 2, lo.saturating_add(1).min(hi)] {
            yes(n);
            let text = n.to_string();
            // Leading zeros, a plus sign, blanks: never canonical.
            match text.strip_prefix('-') {
                Some(magnitude) => no(&format!("-0{magnitude}")),
                None => no(&format!("0{text}")),
            }
            no(&format!("+{text}"));
            no(&format!(" {text}"));
            no(&format!("{text} "));
        }
        no("-0");
        no("");
        no("-");
        no("1.0");
    }

    #[test]
    fn int64_uint64_and_32_bit_ranges() {
        check_bounds(I64.0, I64.1);
        check_bounds(1, I64.1);
        check_bounds(0, I64.1);
        check_bounds(0, u64::MAX as i128);
        check_bounds(1, u64::MAX as i128);
        check_bounds(i32::MIN as i128, i32::MAX as i128);
        check_bounds(0, u32::MAX as i128);
        let r = re(I64.0, I64.1);
        assert!(!r.is_match("105443190856526047299870"));
        assert!(!r.is_match("9223372036854775808"));
        assert!(!r.is_match("-9223372036854775809"));
        assert!(!r.is_match("99999999999999999999"));
        assert!(r.is_match("-9223372036854775808"));
    }

    #[test]
    fn small_and_odd_ranges() {
        for (lo, hi) in [
            (0, 0),
            (5, 5),
            (-5, -5),
            (-7, 3),
            (-100, -10),
            (10, 99),
            (7, 1234),
            (19, 21),
            (100, 199),
            (101, 198),
            (999, 1000),
            (-1000, -999),
            (1, 9),
        ] {
            check_bounds(lo, hi);
        }
        assert_eq!(range_pattern(1, 0), None);
    }

    #[test]
    fn agrees_with_arithmetic_on_every_small_integer() {
        for (lo, hi) in [(-123, 456), (0, 1000), (37, 37), (-999, -1), (8, 112)] {
            let r = re(lo, hi);
            for n in -1500..=1500_i128 {
                assert_eq!(
                    r.is_match(&n.to_string()),
                    (lo..=hi).contains(&n),
                    "{n} in {lo}..={hi}: {r}"
                );
            }
        }
    }

    #[test]
    fn readable_for_the_common_cases() {
        assert_eq!(range_pattern(0, 9).as_deref(), Some("^(?:0|[1-9])$"));
        assert_eq!(range_pattern(1, 999).as_deref(), Some("^[1-9][0-9]{0,2}$"));
        assert_eq!(range_pattern(-9, -1).as_deref(), Some("^-[1-9]$"));
    }
}
