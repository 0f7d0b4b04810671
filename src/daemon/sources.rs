//! The event loop's rarely ready sources (SIGTERM, SIGINT, SIGHUP, netlink events, worker
//! reports, control requests, tracker updates), merged into two streams that poll only the
//! source that woke: futures' `SelectAll` gives each one its own waker. They run on the
//! runtime's thread, where `mailbox::forward` hands their events to the loop's thread.

use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::control::ControlRequest;
use super::event::Event;
use super::worker::Report;
use crate::system::netlink::NetEvent;
use crate::track::TrackUpdate;

pub type Sources = SelectAll<BoxStream<'static, Event>>;

/// The signals, forwarded ahead of the others, and the other quiet sources.
pub struct QuietSources {
    pub signals: Sources,
    pub others: Sources,
}

fn from_channel<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    event: fn(T) -> Event,
) -> BoxStream<'static, Event> {
    stream::poll_fn(move |cx| rx.poll_recv(cx).map(|item| item.map(event))).boxed()
}

impl QuietSources {
    /// Takes the channels' receiving ends; no signal is watched before [`Self::watch_signals`].
    pub fn new(
        net_events: Option<mpsc::Receiver<NetEvent>>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        control: mpsc::Receiver<ControlRequest>,
        track_updates: mpsc::Receiver<TrackUpdate>,
    ) -> QuietSources {
        let mut others = Sources::new();
        if let Some(rx) = net_events {
            others.push(from_channel(rx, Event::Net));
        }
        others.push(
            stream::poll_fn(move |cx| reports.poll_recv(cx).map(|r| r.map(Event::System))).boxed(),
        );
        others.push(from_channel(control, Event::Control));
        others.push(from_channel(track_updates, Event::Track));
        QuietSources {
            signals: Sources::new(),
            others,
        }
    }

    /// Watches SIGTERM and SIGINT ([`Event::Terminate`]) and SIGHUP ([`Event::Reload`]) from now
    /// on (until then their default actions stand).
    pub fn watch_signals(&mut self) -> std::io::Result<()> {
        let watched: [(SignalKind, fn() -> Event); 3] = [
            (SignalKind::terminate(), || Event::Terminate),
            (SignalKind::interrupt(), || Event::Terminate),
            (SignalKind::hangup(), || Event::Reload),
        ];
        for (kind, event) in watched {
            let mut stream = signal(kind)?;
            self.signals.push(
                stream::poll_fn(move |cx| stream.poll_recv(cx).map(|got| got.map(|()| event())))
                    .boxed(),
            );
        }
        Ok(())
    }
}
