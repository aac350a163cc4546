//! Image pull progress, rendered by the reporter: on a terminal one bar per layer (its id, its
//! status, bytes done / total) under the step's spinner; otherwise one plain line on stderr per
//! layer state change (`pull <image>: layer <id> Downloading (12.3 MiB)`), never one per
//! progress tick, so CI logs stay short. stdout is never touched: under `--json` it stays one
//! object. The backend (`stack/docker.rs`) turns Engine API messages into [`PullEvent`]s; nothing
//! here knows about Docker's client library.

use std::collections::HashMap;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};

use super::Reporter;

/// One message of an image pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullEvent {
    /// The layer (short id) the message is about; `None` for messages about the whole pull
    /// ("Pulling from …", "Digest: …", "Status: …").
    pub layer: Option<String>,
    /// The state as the engine words it ("Pulling fs layer", "Downloading", "Pull complete", …).
    pub status: String,
    /// Bytes done in the current state, when the engine reports them.
    pub current: Option<u64>,
    /// Bytes in all for the current state, when known.
    pub total: Option<u64>,
}

/// The plain-text renderer: a line for every whole-pull message and for every change of a
/// layer's state; repeated messages in the same state (download ticks) give none.
#[derive(Debug, Default)]
pub struct PlainLines {
    image: String,
    last: HashMap<String, String>,
}

impl PlainLines {
    /// A renderer for a pull of `image`.
    pub fn new(image: &str) -> PlainLines {
        PlainLines {
            image: image.to_owned(),
            last: HashMap::new(),
        }
    }

    /// The line to print for `event`, if any.
    pub fn line(&mut self, event: &PullEvent) -> Option<String> {
        let image = &self.image;
        let Some(layer) = &event.layer else {
            return Some(format!("pull {image}: {}", event.status));
        };
        if self.last.get(layer) == Some(&event.status) {
            return None;
        }
        self.last.insert(layer.clone(), event.status.clone());
        let size = event
            .total
            .map_or_else(String::new, |t| format!(" ({})", HumanBytes(t)));
        Some(format!(
            "pull {image}: layer {layer} {}{size}",
            event.status
        ))
    }
}

/// Bars on a terminal: a header with the latest whole-pull message, then one bar per layer.
struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    layers: Vec<(String, ProgressBar)>,
}

impl Bars {
    fn new(multi: MultiProgress, image: &str) -> Bars {
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(text_style());
        header.set_message(format!("pull {image}"));
        Bars {
            multi,
            header,
            layers: Vec::new(),
        }
    }

    fn event(&mut self, image: &str, event: &PullEvent) {
        let Some(layer) = &event.layer else {
            self.header
                .set_message(format!("pull {image}: {}", event.status));
            return;
        };
        let bar = if let Some((_, bar)) = self.layers.iter().find(|(id, _)| id == layer) {
            bar.clone()
        } else {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_prefix(layer.clone());
            self.layers.push((layer.clone(), bar.clone()));
            bar
        };
        bar.set_message(event.status.clone());
        match (event.current, event.total) {
            (Some(current), Some(total)) => {
                bar.set_style(bar_style());
                bar.set_length(total);
                bar.set_position(current.min(total));
            }
            _ => bar.set_style(text_style()),
        }
    }

    fn finish(&self) {
        for (_, bar) in &self.layers {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
    }
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:12} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "  {prefix:12} {msg:16} [{bar:30}] {binary_bytes}/{binary_total_bytes}",
    )
    .map_or_else(
        |_| ProgressStyle::default_bar(),
        |s| s.progress_chars("=> "),
    )
}

/// A pull being shown; feed it every [`PullEvent`], then call [`PullProgress::finish`].
pub struct PullProgress<'r> {
    reporter: &'r Reporter,
    image: String,
    plain: PlainLines,
    bars: Option<Bars>,
}

impl<'r> PullProgress<'r> {
    /// Bars when the reporter draws on a terminal, plain lines otherwise.
    pub(super) fn new(reporter: &'r Reporter, image: &str) -> PullProgress<'r> {
        PullProgress {
            reporter,
            image: image.to_owned(),
            plain: PlainLines::new(image),
            bars: reporter.multi.clone().map(|m| Bars::new(m, image)),
        }
    }

    /// Shows one message of the pull.
    pub fn event(&mut self, event: &PullEvent) {
        match &mut self.bars {
            Some(bars) => bars.event(&self.image, event),
            None => {
                if let Some(line) = self.plain.line(event) {
                    eprintln!("{}", self.reporter.redact(&line));
                }
            }
        }
    }

    /// Removes the bars (the step line that follows says how the pull ended).
    pub fn finish(self) {
        if let Some(bars) = &self.bars {
            bars.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(layer: Option<&str>, status: &str, progress: Option<(u64, u64)>) -> PullEvent {
        PullEvent {
            layer: layer.map(str::to_owned),
            status: status.to_owned(),
            current: progress.map(|p| p.0),
            total: progress.map(|p| p.1),
        }
    }

    /// A typical pull: two layers, one already present, the other downloaded in ticks.
    fn pull() -> Vec<PullEvent> {
        vec![
            ev(None, "Pulling from team/authserver", None),
            ev(Some("aaa"), "Already exists", None),
            ev(Some("bbb"), "Pulling fs layer", None),
            ev(Some("bbb"), "Downloading", Some((100, 4096))),
            ev(Some("bbb"), "Downloading", Some((2048, 4096))),
            ev(Some("bbb"), "Downloading", Some((4096, 4096))),
            ev(Some("bbb"), "Verifying Checksum", None),
            ev(Some("bbb"), "Download complete", None),
            ev(Some("bbb"), "Extracting", Some((1024, 8192))),
            ev(Some("bbb"), "Extracting", Some((8192, 8192))),
            ev(Some("bbb"), "Pull complete", None),
            ev(None, "Digest: sha256:0123", None),
        ]
    }

    #[test]
    fn plain_lines_show_each_state_change_once_not_each_tick() {
        let mut plain = PlainLines::new("reg/team/authserver:1");
        let lines: Vec<String> = pull().iter().filter_map(|e| plain.line(e)).collect();
        assert_eq!(
            lines,
            [
                "pull reg/team/authserver:1: Pulling from team/authserver",
                "pull reg/team/authserver:1: layer aaa Already exists",
                "pull reg/team/authserver:1: layer bbb Pulling fs layer",
                "pull reg/team/authserver:1: layer bbb Downloading (4.00 KiB)",
                "pull reg/team/authserver:1: layer bbb Verifying Checksum",
                "pull reg/team/authserver:1: layer bbb Download complete",
                "pull reg/team/authserver:1: layer bbb Extracting (8.00 KiB)",
                "pull reg/team/authserver:1: layer bbb Pull complete",
                "pull reg/team/authserver:1: Digest: sha256:0123",
            ]
        );
    }

    #[test]
    fn bars_keep_one_bar_per_layer_with_its_status_and_bytes() {
        let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let mut bars = Bars::new(multi, "img");
        let events = pull();
        for e in &events[..5] {
            bars.event("img", e);
        }
        assert_eq!(bars.layers.len(), 2);
        assert_eq!(
            bars.header.message(),
            "pull img: Pulling from team/authserver"
        );
        let (id, bbb) = &bars.layers[1];
        assert_eq!(id, "bbb");
        assert_eq!(bbb.prefix(), "bbb");
        assert_eq!(bbb.message(), "Downloading");
        assert_eq!((bbb.position(), bbb.length()), (2048, Some(4096)));
        for e in &events[5..] {
            bars.event("img", e);
        }
        assert_eq!(bars.layers.len(), 2, "no bar per tick");
        assert_eq!(bars.layers[0].1.message(), "Already exists");
        assert_eq!(bars.layers[1].1.message(), "Pull complete");
        assert_eq!(bars.header.message(), "pull img: Digest: sha256:0123");
        bars.finish();
        assert!(bars.layers.iter().all(|(_, b)| b.is_finished()));
    }
}
