//! `cargo xtask corpus [--strict] [--warnings] [--no-validate] [--only DIR]... [--out DIR]`: the
//! generator on every API Google publishes, as the acceptance corpus.
//!
//! The corpus is npm's `google-proto-files` (the googleapis protos), pinned in
//! `build-support/corpus/package-lock.json` and installed there with `npm ci` (the protos are
//! never checked in). Every directory holding a `google.api.http` annotation is one run of the
//! generator (library API, the corpus root as the proto directory, that directory's files as the
//! inputs, lenient unless `--strict`). The check fails unless, for every directory:
//!
//! - the generator succeeds;
//! - the routes it serves plus the bindings it left out (each with a warning) equal the rules plus
//!   their `additional_bindings`, counted independently from the descriptors;
//! - the OpenAPI document passes `openapi-spec-validator` and has no `$ref` to nothing (all
//!   documents in one Python process with a worker per core, `build-support/corpus/validate.py`,
//!   fed as they are written);
//! - Redocly (the project's rules, `openapi/redocly.yaml`) finds no error in any document;
//! - and one of the APIs, googleapis' library example, is served end to end
//!   (`cargo test -p library-example`, which is empty without the corpus installed).
//!
//! It prints one line per directory and a summary: directories generated, routes, documents
//! valid, Redocly's findings, the generator's warnings by kind (`--warnings` prints each), and
//! the time taken. The documents are left under `--out` (default `<target dir>/corpus`, cleared
//! first) for inspection. `--no-validate` skips both linters (the generator alone, for timing).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use build_support::WarningKind;
use prost_reflect::{DescriptorPool, Value};

use crate::{project_root, run_checked, ts_client};

const USAGE: &str =
    "usage: cargo xtask corpus [--strict] [--warnings] [--no-validate] [--only DIR]... [--out DIR]";

/// The npm package that holds the corpus, relative to the workspace root.
const CORPUS_DIR: &str = "build-support/corpus";
/// The package whose protos are the corpus.
const PACKAGE: &str = "google-proto-files";

/// What one directory of the corpus gave.
#[derive(Debug)]
struct DirResult {
    /// The directory, relative to the corpus root (`google/example/library/v1`).
    dir: String,
    /// How long the generator took (compile, model, both emitters).
    elapsed: Duration,
    /// The generator's answer.
    outcome: Outcome,
}

/// The generator's answer for one directory.
#[derive(Debug)]
enum Outcome {
    /// Generated.
    Generated {
        /// Routes served.
        routes: usize,
        /// Rules plus additional bindings, counted from the descriptors.
        rules: usize,
        /// Bindings the generator left out, according to its warnings.
        omitted: usize,
        /// Warnings by kind.
        warnings: BTreeMap<WarningKind, usize>,
        /// Every warning, as the generator words it.
        messages: Vec<String>,
        /// Where the OpenAPI document was written.
        openapi: PathBuf,
    },
    /// The generator failed.
    Failed(String),
}

/// `cargo xtask corpus`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut strict = false;
    let mut show_warnings = false;
    let mut validate_documents = true;
    let mut only: Vec<String> = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--strict" => strict = true,
            "--warnings" => show_warnings = true,
            "--no-validate" => validate_documents = false,
            "--only" => only.push(args.next().context("`--only` needs a value")?.clone()),
            "--out" => out = Some(PathBuf::from(args.next().context("`--out` needs a value")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let root = install()?;
    let version = package_version(&root)?;
    let out = match out {
        Some(out) => out,
        None => {
            // Ours alone: documents of directories no longer generated must not linger.
            let out = target_dir().join("corpus");
            if out.exists() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("clearing {}", out.display()))?;
            }
            out
        }
    };
    let mut dirs = annotated_dirs(&root)?;
    if !only.is_empty() {
        dirs.retain(|dir| {
            only.iter()
                .any(|o| dir == o || dir.starts_with(&format!("{o}/")))
        });
    }
    ensure!(!dirs.is_empty(), "no annotated directory to generate");
    eprintln!(
        "corpus: {PACKAGE} {version}, {} annotated directories, {} mode",
        dirs.len(),
        if strict { "strict" } else { "lenient" }
    );

    // The validator starts first and checks each document as soon as it is written.
    let mut validator = validate_documents.then(Validator::start).transpose()?;
    let started = Instant::now();
    let results = generate_all(&root, &dirs, &out, strict, |result| {
        if let (Some(validator), Outcome::Generated { openapi, .. }) =
            (validator.as_mut(), &result.outcome)
        {
            validator.submit(openapi);
        }
    });
    let generation = started.elapsed();
    let checked = match validator {
        Some(validator) => Some(validator.finish()?),
        None => None,
    };
    let lint = match &checked {
        Some(_) => {
            let documents: Vec<&Path> = results
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Generated { openapi, .. } => Some(openapi.as_path()),
                    Outcome::Failed(_) => None,
                })
                .collect();
            Some(redocly(&documents)?)
        }
        None => None,
    };
    let total = started.elapsed();

    if show_warnings {
        for result in &results {
            if let Outcome::Generated { messages, .. } = &result.outcome {
                for message in messages {
                    println!("warning: {message}");
                }
            }
        }
    }
    report(
        &results,
        checked.as_ref(),
        lint.as_ref(),
        &version,
        generation,
        total,
    )?;
    if only.is_empty() {
        // One of these APIs served end to end, now that the corpus is surely installed.
        run_checked(crate::cargo().args(["test", "-p", "library-example"]))?;
    }
    Ok(())
}

/// Installs the pinned corpus with `npm ci` (unless this lock file is already installed) and
/// returns the protos' root.
fn install() -> anyhow::Result<PathBuf> {
    let dir = project_root().join(CORPUS_DIR);
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {CORPUS_DIR}/package-lock.json"))?;
    let stamp = dir.join("node_modules/.xtask-installed-lock.json");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        run_checked(Command::new("npm").current_dir(&dir).args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ]))
        .context("installing the corpus (needs npm and the npm registry)")?;
        std::fs::write(&stamp, &lock).with_context(|| format!("writing {}", stamp.display()))?;
    }
    Ok(dir.join("node_modules").join(PACKAGE))
}

/// The corpus package's version, from its `package.json`.
fn package_version(root: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(root.join("package.json"))
        .with_context(|| format!("reading {}/package.json", root.display()))?;
    let version = text
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("\"version\"")?;
            Some(
                rest.trim_start_matches([' ', ':'])
                    .trim_matches([' ', ',', '"']),
            )
        })
        .context("no version in the corpus package.json")?;
    Ok(version.to_owned())
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `<workspace>/target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// Every directory (relative, `/`-separated, sorted) with a `.proto` file that sets
/// `google.api.http`, found by reading the text; the generator then reads the descriptors.
fn annotated_dirs(root: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
        let mut annotated = false;
        for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if !annotated && path.extension().is_some_and(|e| e == "proto") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                // Outside `//` comments: google/protobuf/api.proto only mentions it.
                annotated = text.lines().any(|line| {
                    let code = line.split("//").next().unwrap_or_default();
                    code.contains("(google.api.http)")
                });
            }
        }
        if annotated {
            out.push(relative(root, dir));
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// `path` relative to `root`, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `.proto` files directly in `dir`, relative to `root`.
fn proto_files(root: &Path, dir: &str) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join(dir)).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "proto") {
            files.push(relative(root, &path));
        }
    }
    files.sort();
    Ok(files)
}

/// Generates every directory on all cores; `done` sees each result as it comes. The results are
/// returned in the order given.
fn generate_all(
    root: &Path,
    dirs: &[String],
    out: &Path,
    strict: bool,
    done: impl FnMut(&DirResult) + Send,
) -> Vec<DirResult> {
    let done = Mutex::new(done);
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(dirs.len());
    let next = Mutex::new(0_usize);
    let results: Mutex<Vec<Option<DirResult>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(dirs.len()).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = {
                        let Ok(mut next) = next.lock() else { return };
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(dir) = dirs.get(index) else { return };
                    let result = generate_one(root, dir, out, strict);
                    if let Ok(mut done) = done.lock() {
                        done(&result);
                    }
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// One directory through the generator.
fn generate_one(root: &Path, dir: &str, out: &Path, strict: bool) -> DirResult {
    let started = Instant::now();
    let outcome = match try_generate(root, dir, out, strict) {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Failed(format!("{error:#}")),
    };
    DirResult {
        dir: dir.to_owned(),
        elapsed: started.elapsed(),
        outcome,
    }
}

fn try_generate(root: &Path, dir: &str, out: &Path, strict: bool) -> anyhow::Result<Outcome> {
    let files = proto_files(root, dir)?;
    let dest = out.join(dir);
    let output = build_support::Generator::new()
        .proto_dir(root)
        .files(files.clone())
        .strict(strict)
        .title(dir)
        // googleapis' own license, so that the documents say it (and Redocly has no warning).
        .license("Apache-2.0")
        .routes_out(&dest)
        .openapi_out(&dest)
        .generate()?;
    let descriptors = output
        .files
        .iter()
        .find(|f| {
            f.path
                .ends_with(build_support::routes::descriptor_set_file())
        })
        .context("the generator wrote no descriptor set")?;
    let rules = count_rules(&files, &descriptors.contents)?;
    let mut warnings = BTreeMap::new();
    let mut omitted = 0;
    for warning in &output.warnings {
        *warnings.entry(warning.kind).or_default() += 1;
        omitted += warning.omitted;
    }
    let messages = output
        .warnings
        .iter()
        .map(|w| format!("[{}] {w}", w.kind))
        .collect();
    // Only the JSON document is kept: it is what the validator reads.
    let openapi = dest.join("openapi.json");
    let json = output
        .files
        .iter()
        .find(|f| f.path == openapi)
        .context("the generator wrote no openapi.json")?;
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    std::fs::write(&openapi, &json.contents)
        .with_context(|| format!("writing {}", openapi.display()))?;
    Ok(Outcome::Generated {
        routes: output.routes,
        rules,
        omitted,
        warnings,
        messages,
        openapi,
    })
}

/// The `google.api.http` rules plus their `additional_bindings` of every method declared in
/// `files`, read straight from the descriptors (not from the generator's model).
fn count_rules(files: &[String], descriptor_set: &[u8]) -> anyhow::Result<usize> {
    let pool = DescriptorPool::decode(descriptor_set).context("decoding the descriptor set")?;
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Ok(0);
    };
    let mut count = 0;
    for service in pool.services() {
        if !files.iter().any(|f| f == service.parent_file().name()) {
            continue;
        }
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            count += 1;
            if let Value::Message(rule) = options.get_extension(&http).as_ref()
                && let Some(Value::List(extra)) =
                    rule.get_field_by_name("additional_bindings").as_deref()
            {
                count += extra.len();
            }
        }
    }
    Ok(count)
}

/// `openapi-spec-validator` in one Python process (`validate.py`, a worker per core), fed the
/// documents one by one as they are written.
struct Validator {
    /// The Python process.
    child: std::process::Child,
    /// Its stdin: one document path per line.
    stdin: Option<std::process::ChildStdin>,
    /// Reads its answers while documents are still being fed, so neither side blocks.
    reader: std::thread::JoinHandle<std::io::Result<String>>,
    /// How many documents were submitted.
    submitted: usize,
    /// The first failure to write to it, reported by [`Validator::finish`].
    error: Option<std::io::Error>,
}

impl Validator {
    /// Starts the validator.
    fn start() -> anyhow::Result<Self> {
        let script = project_root().join(CORPUS_DIR).join("validate.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting python3 (openapi-spec-validator)")?;
        let stdin = child.stdin.take().context("python3's stdin")?;
        let mut stdout = child.stdout.take().context("python3's stdout")?;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
        });
        Ok(Validator {
            child,
            stdin: Some(stdin),
            reader,
            submitted: 0,
            error: None,
        })
    }

    /// Queues one document.
    fn submit(&mut self, document: &Path) {
        if let Some(stdin) = self.stdin.as_mut()
            && let Err(error) = writeln!(stdin, "{}", document.display())
        {
            self.error.get_or_insert(error);
        }
        self.submitted += 1;
    }

    /// Waits for every answer: each document's path with `None` when valid, else the reason.
    fn finish(mut self) -> anyhow::Result<BTreeMap<PathBuf, Option<String>>> {
        drop(self.stdin.take());
        let text = self
            .reader
            .join()
            .map_err(|_| anyhow::anyhow!("the validator's reader panicked"))??;
        let status = self.child.wait()?;
        if let Some(error) = self.error {
            bail!("feeding the validator: {error}");
        }
        ensure!(
            status.success(),
            "the validator failed: {status} (is openapi-spec-validator installed? \
             `python3 -m pip install openapi-spec-validator`)"
        );
        let mut checked = BTreeMap::new();
        for line in text.lines() {
            if let Some(backend) = line.strip_prefix("backend ") {
                eprintln!("validator backend: {backend}");
            } else if let Some(path) = line.strip_prefix("ok ") {
                checked.insert(PathBuf::from(path), None);
            } else if let Some(rest) = line.strip_prefix("invalid ") {
                let (path, reason) = rest.split_once(": ").unwrap_or((rest, ""));
                checked.insert(PathBuf::from(path), Some(reason.to_owned()));
            }
        }
        ensure!(
            checked.len() == self.submitted,
            "the validator answered for {} of {} documents",
            checked.len(),
            self.submitted
        );
        Ok(checked)
    }
}

/// What Redocly says about the documents: problems by severity and rule.
#[derive(Debug, Default)]
struct Lint {
    /// Errors by rule (any fails the check).
    errors: BTreeMap<String, usize>,
    /// Warnings by rule (reported).
    warnings: BTreeMap<String, usize>,
}

/// Redocly's linter on every document at once, with the project's own rules
/// (`openapi/redocly.yaml`, the ones the shop's document passes), from the TypeScript client's
/// npm dependencies.
fn redocly(documents: &[&Path]) -> anyhow::Result<Lint> {
    ts_client::npm_ci()?;
    let output = ts_client::npm_bin("redocly")
        .arg("lint")
        .arg("--config")
        .arg(project_root().join("openapi/redocly.yaml"))
        .arg("--format=summary")
        .args(documents)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .context("running redocly")?;
    let mut lint = Lint::default();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    for line in text.lines() {
        // `error <rule>: <count>` / `warning <rule>: <count>`, once per document.
        let (severity, rest) = match line.split_once(' ') {
            Some((severity @ ("error" | "warning"), rest)) => (severity, rest),
            _ => continue,
        };
        let Some((rule, count)) = rest.rsplit_once(": ") else {
            continue;
        };
        let Ok(count) = count.trim().parse::<usize>() else {
            continue;
        };
        let by_rule = if severity == "error" {
            &mut lint.errors
        } else {
            &mut lint.warnings
        };
        *by_rule.entry(rule.to_owned()).or_default() += count;
    }
    if !output.status.success() && lint.errors.is_empty() {
        bail!("redocly failed ({}):\n{text}", output.status);
    }
    Ok(lint)
}

/// Prints the per-directory lines and the summary; fails on any problem.
fn report(
    results: &[DirResult],
    checked: Option<&BTreeMap<PathBuf, Option<String>>>,
    lint: Option<&Lint>,
    version: &str,
    generation: Duration,
    total: Duration,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut generated = 0;
    let mut routes_total = 0;
    let mut omitted_total = 0;
    let mut rules_total = 0;
    let mut valid = 0;
    let mut by_kind: BTreeMap<WarningKind, usize> = BTreeMap::new();
    for result in results {
        let ms = result.elapsed.as_millis();
        match &result.outcome {
            Outcome::Failed(error) => {
                println!("{:<56} error   {ms:>6} ms  {error}", result.dir);
                problems.push(format!("{}: {error}", result.dir));
            }
            Outcome::Generated {
                routes,
                rules,
                omitted,
                warnings,
                openapi,
                ..
            } => {
                generated += 1;
                routes_total += routes;
                omitted_total += omitted;
                rules_total += rules;
                for (kind, n) in warnings {
                    *by_kind.entry(*kind).or_default() += n;
                }
                let document = match checked.map(|checked| checked.get(openapi)) {
                    None => "not validated",
                    Some(Some(None)) => {
                        valid += 1;
                        "valid"
                    }
                    Some(Some(Some(reason))) => {
                        problems.push(format!("{}: invalid OpenAPI: {reason}", result.dir));
                        "invalid"
                    }
                    Some(None) => {
                        problems.push(format!("{}: the validator did not answer", result.dir));
                        "unchecked"
                    }
                };
                if routes + omitted != *rules {
                    problems.push(format!(
                        "{}: {routes} routes + {omitted} left out != {rules} rules",
                        result.dir
                    ));
                }
                let warned: Vec<String> = warnings
                    .iter()
                    .map(|(kind, n)| format!("{kind}={n}"))
                    .collect();
                println!(
                    "{:<56} ok      {ms:>6} ms  {routes:>5} routes  {rules:>5} rules  openapi {document}{}",
                    result.dir,
                    if warned.is_empty() {
                        String::new()
                    } else {
                        format!("  warnings {}", warned.join(" "))
                    }
                );
            }
        }
    }
    let slowest = results.iter().max_by_key(|r| r.elapsed);
    println!();
    println!("corpus {PACKAGE} {version}");
    println!("directories generated: {generated}/{}", results.len());
    println!(
        "routes: {routes_total} of {rules_total} rules and additional bindings \
         ({omitted_total} left out, each with a warning)"
    );
    match checked {
        Some(_) => println!("OpenAPI documents valid: {valid}/{generated}"),
        None => println!("OpenAPI documents not validated (--no-validate)"),
    }
    if let Some(lint) = lint {
        let list = |by_rule: &BTreeMap<String, usize>| {
            by_rule
                .iter()
                .map(|(rule, n)| format!("{rule}={n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "Redocly: {} errors{}, {} warnings{}",
            lint.errors.values().sum::<usize>(),
            if lint.errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", list(&lint.errors))
            },
            lint.warnings.values().sum::<usize>(),
            if lint.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", list(&lint.warnings))
            },
        );
        if !lint.errors.is_empty() {
            problems.push(format!(
                "Redocly errors: {} (run it on the documents under the output directory)",
                list(&lint.errors)
            ));
        }
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k}={n}")).collect();
    println!(
        "warnings: {}",
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        }
    );
    println!(
        "time (wall, all cores): generation {:.1} s{}{}",
        generation.as_secs_f64(),
        match checked {
            Some(_) => format!(", with validation and lint {:.1} s", total.as_secs_f64()),
            None => String::new(),
        },
        slowest
            .map(|r| format!("; slowest directory {} {} ms", r.dir, r.elapsed.as_millis()))
            .unwrap_or_default()
    );
    if problems.is_empty() {
        return Ok(());
    }
    for problem in &problems {
        eprintln!("  {problem}");
    }
    bail!("{} corpus problems", problems.len())
}
