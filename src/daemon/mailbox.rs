//! How the quiet sources reach the event loop's thread. The loop waits on its own epoll set
//! (`system::readiness`), not in tokio; signals, netlink events, worker reports, control requests
//! and tracker updates are still tokio streams, so a task on the runtime's thread forwards each
//! event into a channel and rings an eventfd the loop watches.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{mpsc, Arc};

use futures::StreamExt;

use super::event::Event;
use super::sources::QuietSources;

/// The loop's end: drained when its eventfd is readable.
pub struct Mailbox {
    events: mpsc::Receiver<Event>,
    bell: Arc<OwnedFd>,
}

/// The runtime's end.
#[derive(Clone)]
pub struct Postman {
    events: mpsc::Sender<Event>,
    bell: Arc<OwnedFd>,
}

/// A mailbox and the sender that fills it.
pub fn mailbox() -> io::Result<(Postman, Mailbox)> {
    // SAFETY: plain eventfd(2); the result is checked before use.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor we own.
    let bell = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
    let (tx, rx) = mpsc::channel();
    Ok((
        Postman {
            events: tx,
            bell: bell.clone(),
        },
        Mailbox { events: rx, bell },
    ))
}

impl Postman {
    /// Hands `event` to the loop; false once the loop is gone.
    pub fn post(&self, event: Event) -> bool {
        if self.events.send(event).is_err() {
            return false;
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local u64 to our eventfd. It can only fail when the
        // counter is near overflow, and then the loop has a wake-up pending anyway.
        unsafe { libc::write(self.bell.as_raw_fd(), (&one as *const u64).cast(), 8) };
        true
    }
}

impl Mailbox {
    /// The descriptor to watch: readable while an event may be waiting.
    pub fn fd(&self) -> RawFd {
        self.bell.as_raw_fd()
    }

    /// Quiets the bell; every event posted before this returns is then seen by [`Self::next`].
    pub fn answer(&self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer of 8 bytes; EAGAIN means no ring.
        unsafe { libc::read(self.bell.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
    }

    pub fn next(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

/// Forwards the quiet sources' events until the loop is gone or every source has ended;
/// signals first, as the loop polled them ahead of the packets.
pub async fn forward(mut sources: QuietSources, postman: Postman) {
    loop {
        let event = tokio::select! {
            biased;
            Some(event) = sources.signals.next() => event,
            Some(event) = sources.others.next() => event,
            else => return,
        };
        if !postman.post(event) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::readiness::{Readiness, ReadyTokens};
    use std::time::Duration;

    #[test]
    fn a_posted_event_rings_the_bell_once_answered_it_is_quiet() {
        let (postman, mailbox) = mailbox().unwrap();
        let readiness = Readiness::new().unwrap();
        readiness.watch(mailbox.fd(), 3).unwrap();
        let mut ready = ReadyTokens::new();
        readiness
            .wait(&mut ready, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(ready.is_empty());
        assert!(postman.post(Event::Reload));
        assert!(postman.post(Event::Terminate));
        readiness
            .wait(&mut ready, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!((ready.len(), ready.token(0)), (1, 3));
        mailbox.answer();
        assert!(matches!(mailbox.next(), Some(Event::Reload)));
        assert!(matches!(mailbox.next(), Some(Event::Terminate)));
        assert!(mailbox.next().is_none());
        readiness
            .wait(&mut ready, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(ready.is_empty(), "answered and drained, yet still ringing");
    }

    #[test]
    fn posting_fails_once_the_mailbox_is_gone() {
        let (postman, mailbox) = mailbox().unwrap();
        drop(mailbox);
        assert!(!postman.post(Event::Reload));
    }
}
