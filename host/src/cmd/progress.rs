//! Progress of long work (replay, redrive, `dlq stats`) as a bar on stderr — only when
//! stderr is a terminal for people: piped, or as JSON lines, nothing is drawn.

use indicatif::{ProgressBar, ProgressStyle};
use weir_kafka::tail::Read;

/// A bar for records read; cleared when dropped.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(what: &str) -> Bar {
        let bar =
            if weir::stderr_is_for_people() { ProgressBar::new(0) } else { ProgressBar::hidden() };
        let style = "{msg} [{bar:30}] {pos}/{len} records ({per_sec}, {eta} left)";
        bar.set_style(
            ProgressStyle::with_template(style).expect("a valid template").progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Bar(bar)
    }

    /// Records read, of what the ends held (more may come past them).
    pub fn show(&self, read: Read) {
        self.0.set_length(read.total.max(read.done));
        self.0.set_position(read.done);
    }

    pub fn say(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
