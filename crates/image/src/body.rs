//! A response body that arrives asynchronously, read by the synchronous scanner.
//!
//! The async side (a tokio task reading a daemon's or a registry's response) sends chunks
//! into a bounded channel; the scanner reads them through [`ChannelReader`]. The channel's
//! bound is what keeps memory flat whatever the image size: when the scanner falls behind,
//! the task stops reading the socket and the sender's TCP window closes.

use bytes::Bytes;
use std::io::{self, Read, Write};
use tokio::sync::mpsc::{Receiver, Sender, channel};

/// Chunks in flight between the network task and the scanner (hyper hands over chunks of
/// at most a few hundred KiB, so this bounds the buffered bytes to a few MiB).
pub const IN_FLIGHT: usize = 16;

/// The sending half: the network task pushes chunks, or an error that ends the stream.
pub type BodySender = Sender<Result<Bytes, io::Error>>;

/// A bounded channel for one body.
pub fn body_channel() -> (BodySender, ChannelReader) {
    let (tx, rx) = channel(IN_FLIGHT);
    (
        tx,
        ChannelReader {
            rx,
            current: Bytes::new(),
            done: false,
        },
    )
}

/// The receiving half, as a blocking `Read`. Must not be read on a tokio worker thread.
pub struct ChannelReader {
    rx: Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The sender finished: end of the body.
                None => self.done = true,
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Bytes written in one chunk to a [`ChannelWriter`]'s receiver.
const WRITE_CHUNK: usize = 256 << 10;

/// The other direction: a blocking `Write` whose bytes become the chunks of a request body
/// that an async task sends. Must not be written on a tokio worker thread.
pub struct ChannelWriter {
    tx: BodySender,
    pending: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: BodySender) -> ChannelWriter {
        ChannelWriter {
            tx,
            pending: Vec::with_capacity(WRITE_CHUNK),
        }
    }

    fn send(&mut self, item: Result<Bytes, io::Error>) -> io::Result<()> {
        self.tx.blocking_send(item).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the receiving end stopped reading",
            )
        })
    }

    /// Ends the body with an error instead of its end, so that the receiver never takes
    /// what was sent for a whole body.
    pub fn abort(mut self, error: io::Error) {
        self.pending.clear();
        let _ = self.send(Err(error));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(WRITE_CHUNK),
        ));
        self.send(Ok(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_in_order_and_errors_end_the_stream() {
        let (tx, mut reader) = body_channel();
        let feeder = std::thread::spawn(move || {
            for part in [&b"hello "[..], b"", b"world"] {
                tx.blocking_send(Ok(Bytes::copy_from_slice(part))).unwrap();
            }
            tx.blocking_send(Err(io::Error::other("connection reset")))
                .unwrap();
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        let err = loop {
            match reader.read(&mut buf) {
                Ok(0) => panic!("the error was lost"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        feeder.join().unwrap();
        assert_eq!(got, b"hello world");
        assert!(err.to_string().contains("connection reset"));
    }
}
