//! A TCP proxy on a free loopback port that forwards to one address until paused.
//! Pausing cuts every open connection and leaves new ones hanging unanswered (as a
//! database behind a dead network does); resuming forwards new connections again.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; stops when dropped.
pub struct TcpProxy {
    pub address: SocketAddr,
    paused: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards `127.0.0.1:<free port>` to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let paused = Arc::new(watch::channel(false).0);
        let state = Arc::clone(&paused);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, state.subscribe()));
            }
        });
        TcpProxy {
            address,
            paused,
            task,
        }
    }

    /// Cuts every open connection; new ones are accepted and left unanswered.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Forwards new connections again (those held while paused are closed).
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut paused: watch::Receiver<bool>) {
    if *paused.borrow_and_update() {
        // Hold the connection silently until the pause ends, then close it.
        let _ = paused.wait_for(|paused| !*paused).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = paused.wait_for(|paused| *paused) => {}
    }
}
