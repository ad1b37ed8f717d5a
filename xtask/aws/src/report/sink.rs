//! Sinks: where a deploy's events are shown. Progress and diagnostics (steps, phases,
//! info, warnings) go to stderr; what the run produced (the plan table, the summary) to
//! stdout, so `deploy > summary.txt` keeps the result and shows the progress.
//!
//! - [`Terminal`]: indicatif spinners for the steps running now; a finished step leaves a
//!   persistent line above them, as cargo's do.
//! - [`Plain`]: timestamped lines, for logs and pipes.
//! - [`Github`]: plain lines plus log groups per phase, `::error::` annotations on failed
//!   steps and the Markdown job summary. Everything goes to stdout: GitHub reads workflow
//!   commands from stdout (its workflow-commands documentation), and one stream keeps the
//!   log in order.
//! - [`Json`]: every event as one JSON object per line on stdout (NDJSON), the last one the
//!   summary; nothing else is printed there.
//!
//! Whatever the sink, a failed run's error is also one `error:` line on stderr.

use super::{line_of, markdown, plan_text, summary_text, Event, StepState, Style, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Receives every event of a run, from any step's task.
pub trait Sink: Send + Sync {
    fn event(&self, event: &Event);

    /// What a capturing sink kept (tests); `None` for one that printed.
    fn captured(&self) -> Option<String> {
        None
    }
}

pub fn for_style(style: Style) -> Box<dyn Sink> {
    match style {
        Style::Terminal => Box::new(Terminal::new()),
        Style::Plain => Box::new(Plain::new(Out::Split)),
        Style::Github => Box::new(Github {
            plain: Plain::new(Out::Stdout),
            in_group: Mutex::new(false),
        }),
        Style::Json => Box::new(Json { out: Out::Stdout }),
    }
}

/// Which of the two kinds of output a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// Steps, phases, info and warnings.
    Progress,
    /// The plan, the summary, machine output.
    Result,
}

/// Where a sink's lines go.
enum Out {
    /// Progress to stderr, results to stdout.
    Split,
    /// Everything to stdout.
    Stdout,
    /// One string, in order (tests).
    Captured(Mutex<String>),
}

impl Out {
    fn line(&self, stream: Stream, line: &str) {
        match (self, stream) {
            (Out::Captured(kept), _) => {
                let mut kept = kept.lock().unwrap();
                kept.push_str(line);
                kept.push('\n');
            }
            (Out::Split, Stream::Progress) => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            (Out::Split | Out::Stdout, _) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
}

/// Timestamped lines.
pub struct Plain {
    out: Out,
}

impl Plain {
    fn new(out: Out) -> Plain {
        Plain { out }
    }

    /// A plain sink that keeps its lines instead of printing them.
    pub fn captured() -> Plain {
        Plain::new(Out::Captured(Mutex::new(String::new())))
    }
}

impl Sink for Plain {
    fn event(&self, event: &Event) {
        match event {
            Event::Plan { plan } => self.out.line(Stream::Result, &plan_text(plan)),
            Event::Summary(summary) => {
                self.out.line(Stream::Result, &summary_text(summary));
                if !matches!(self.out, Out::Captured(_)) {
                    error_on_stderr(summary);
                }
            }
            // Facts reach people through the step lines and the summary.
            Event::Record { .. } => {}
            _ => self
                .out
                .line(Stream::Progress, &format!("{} {}", clock(), line_of(event))),
        }
    }

    fn captured(&self) -> Option<String> {
        match &self.out {
            Out::Captured(kept) => Some(kept.lock().unwrap().clone()),
            _ => None,
        }
    }
}

/// Plain lines inside GitHub's log groups, with annotations and the job summary.
pub struct Github {
    plain: Plain,
    /// Held while a group line and what follows it are printed, so groups nest nothing.
    in_group: Mutex<bool>,
}

impl Sink for Github {
    fn event(&self, event: &Event) {
        let mut in_group = self.in_group.lock().unwrap();
        match event {
            Event::Phase { phase } => {
                self.end_group(&mut in_group);
                self.print(&format!("::group::{phase}"));
                *in_group = true;
            }
            Event::Step {
                service,
                phase,
                state: StepState::Failed,
                message,
                ..
            } => {
                self.plain.event(event);
                let title = service.as_deref().unwrap_or("deploy");
                self.print(&format!(
                    "::error title={title} {phase} failed::{}",
                    escape_annotation(message)
                ));
            }
            // The plan goes in the job summary too: a dry run's is what a reviewer reads
            // before approving the run that carries it out.
            Event::Plan { plan } => {
                self.plain.event(event);
                let text = format!("### Plan\n\n```\n{}\n```\n\n", super::plan_text(plan));
                if let Err(err) = append_step_summary(&text) {
                    self.print(&format!(
                        "::warning::the job summary was not written: {err}"
                    ));
                }
            }
            Event::Summary(summary) => {
                self.end_group(&mut in_group);
                self.plain.event(event);
                if let Err(err) = append_step_summary(&markdown(summary)) {
                    self.print(&format!(
                        "::warning::the job summary was not written: {err}"
                    ));
                }
            }
            _ => self.plain.event(event),
        }
    }
}

impl Github {
    fn print(&self, line: &str) {
        self.plain.out.line(Stream::Progress, line);
    }

    fn end_group(&self, in_group: &mut bool) {
        if std::mem::take(in_group) {
            self.print("::endgroup::");
        }
    }
}

/// One JSON object per event, each with the time it was sent.
pub struct Json {
    out: Out,
}

impl Sink for Json {
    fn event(&self, event: &Event) {
        let mut line = serde_json::to_value(event).unwrap_or_default();
        line["time"] = serde_json::Value::String(crate::time::Timestamp::now().to_string());
        self.out.line(Stream::Result, &line.to_string());
        if let Event::Summary(summary) = event {
            error_on_stderr(summary);
        }
    }
}

/// A failed run's error, one line on stderr whatever else went to stdout (the summary,
/// NDJSON, GitHub's workflow commands): a CI step that keeps stderr, or a person who
/// redirected stdout, still reads why it failed.
fn error_on_stderr(summary: &Summary) {
    if let Some(error) = &summary.error {
        let _ = writeln!(std::io::stderr().lock(), "error: {error}");
    }
}

/// Spinners for running steps on stderr; a persistent line for each one that ends.
pub struct Terminal {
    multi: MultiProgress,
    /// The running step of each unit (`*` for the whole deploy's), by unit.
    running: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Terminal {
    fn new() -> Terminal {
        Terminal {
            multi: MultiProgress::new(),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// A line above the spinners, kept when they go.
    fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn spinner(&self, unit: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<12} {wide_msg}")
                .expect("a valid template"),
        );
        bar.set_prefix(unit.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn stop(&self, bar: ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(&bar);
    }
}

impl Sink for Terminal {
    fn event(&self, event: &Event) {
        match event {
            Event::Step {
                service,
                phase,
                state,
                message,
                ..
            } => {
                let unit = service.as_deref().unwrap_or("*");
                let mut running = self.running.lock().unwrap();
                match state {
                    StepState::Started | StepState::Progress => running
                        .entry(unit.to_owned())
                        .or_insert_with(|| self.spinner(unit))
                        .set_message(format!("{phase}: {message}")),
                    StepState::Done | StepState::Failed => {
                        if let Some(bar) = running.remove(unit) {
                            self.stop(bar);
                        }
                        self.println(&line_of(event));
                    }
                }
            }
            Event::Plan { plan } => self.result(&plan_text(plan)),
            Event::Summary(summary) => {
                for bar in std::mem::take(&mut *self.running.lock().unwrap()).into_values() {
                    self.stop(bar);
                }
                self.result(&summary_text(summary));
                error_on_stderr(summary);
            }
            Event::Record { .. } => {}
            Event::Info { .. } | Event::Warning { .. } | Event::Phase { .. } => {
                self.println(&line_of(event))
            }
        }
    }
}

impl Terminal {
    /// A result on stdout, with the spinners out of the way while it prints.
    fn result(&self, text: &str) {
        self.multi
            .suspend(|| Out::Stdout.line(Stream::Result, text));
    }
}

/// `HH:MM:SSZ`: enough to read a CI log by.
fn clock() -> String {
    let stamp = crate::time::Timestamp::now().to_string();
    stamp.get(11..).unwrap_or(&stamp).to_owned()
}

/// Markdown appended to `$GITHUB_STEP_SUMMARY` when it is set.
fn append_step_summary(text: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// GitHub's workflow commands end at a newline; keep multi-line messages in one annotation.
fn escape_annotation(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Phase;

    #[test]
    fn annotations_stay_on_one_line() {
        assert_eq!(escape_annotation("a\nb%"), "a%0Ab%25");
    }

    #[test]
    fn records_are_not_lines_for_people() {
        let plain = Plain::captured();
        plain.event(&Event::Record {
            unit: "api".into(),
            fact: crate::exec::tally::Fact::Rolled,
        });
        plain.event(&Event::Phase { phase: Phase::Roll });
        let kept = plain.captured().unwrap();
        assert_eq!(kept.lines().count(), 1, "{kept}");
        assert!(kept.ends_with("== roll\n"), "{kept}");
    }
}
