//! Ctrl-C and SIGTERM as a future, for the examples' graceful shutdown.

/// Resolves on the first Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> futures::channel::oneshot::Receiver<()> {
    let (sender, receiver) = futures::channel::oneshot::channel();
    let sender = std::sync::Mutex::new(Some(sender));
    ctrlc::set_handler(move || {
        if let Some(sender) = sender.lock().ok().and_then(|mut s| s.take()) {
            let _ = sender.send(());
        }
    })
    .expect("install the signal handler");
    receiver
}
