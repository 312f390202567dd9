//! Ctrl-C and SIGTERM as a future, for the examples' graceful shutdown.

/// Resolves on the first Ctrl-C or SIGTERM received after the call, which
/// installs the handler: call it before announcing the address, so that no
/// signal can arrive while the default action (exit at once) still holds.
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
