//! A log writer thread for long-running servers. The thread that logs hands the formatted line
//! over a bounded channel and goes on; the writer wakes for the first line, waits a few
//! milliseconds for more, and writes them all in one system call. So a busy server makes about a
//! hundred writes a second instead of one per line, and wakes the writer no more often. On Lambda
//! the direct writer is used instead (see [`super::LogWriter`]).

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

/// Lines waiting at most; a logging thread blocks beyond this (as it would on a slow stdout).
const QUEUE_LINES: usize = 65_536;

/// How long the writer gathers lines after the first one: the most a line waits.
const GATHER: Duration = Duration::from_millis(10);

enum Message {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

static STDOUT_WRITER: OnceLock<Option<SyncSender<Message>>> = OnceLock::new();

/// The subscriber's writer: each formatted event becomes one message.
#[derive(Clone)]
pub(super) struct ChannelWriter(SyncSender<Message>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ChannelWriter {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.send(Message::Line(line.to_vec())).map_err(|_| std::io::Error::other("log writer thread gone"))?;
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer for stdout, starting its thread on first use; `None` if no thread can be started.
pub(super) fn stdout_writer() -> Option<ChannelWriter> {
    STDOUT_WRITER.get_or_init(|| spawn(std::io::stdout()).ok()).clone().map(ChannelWriter)
}

/// Waits (up to a second) until every line logged so far is written: before a server exits.
pub fn flush() {
    if let Some(Some(sender)) = STDOUT_WRITER.get() {
        flush_through(sender);
    }
}

fn flush_through(sender: &SyncSender<Message>) {
    let (done, written) = mpsc::channel();
    if sender.send(Message::Flush(done)).is_ok() {
        let _ = written.recv_timeout(Duration::from_secs(1));
    }
}

fn spawn(out: impl Write + Send + 'static) -> std::io::Result<SyncSender<Message>> {
    let (sender, receiver) = mpsc::sync_channel(QUEUE_LINES);
    std::thread::Builder::new().name("log-writer".into()).spawn(move || write_until_closed(&receiver, out))?;
    Ok(sender)
}

fn write_until_closed(receiver: &Receiver<Message>, mut out: impl Write) {
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    while let Ok(first) = receiver.recv() {
        if matches!(first, Message::Line(_)) {
            std::thread::sleep(GATHER);
        }
        for message in std::iter::once(first).chain(receiver.try_iter()) {
            match message {
                Message::Line(line) => batch.extend_from_slice(&line),
                Message::Flush(done) => waiting.push(done),
            }
        }
        // Nowhere to report a failed log write; the next batch tries again.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_and_flush_waits_for_them() {
        let out = Shared::default();
        let sender = spawn(out.clone()).expect("writer thread");
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let mut writer = ChannelWriter(sender.clone());
                std::thread::spawn(move || {
                    for n in 0..2_000 {
                        writer.write_all(format!("thread {thread} line {n}\n").as_bytes()).expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("join");
        }
        flush_through(&sender);
        let written = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(written.lines().count(), 8_000);
        for thread in 0..4 {
            let lines: Vec<&str> =
                written.lines().filter(|line| line.starts_with(&format!("thread {thread} "))).collect();
            let expected: Vec<String> = (0..2_000).map(|n| format!("thread {thread} line {n}")).collect();
            assert_eq!(lines, expected, "thread {thread}: lines whole and in order");
        }
    }
}
