//! The status socket: a Unix stream socket on which the agent writes its [`Report`] as one
//! JSON line to whoever connects, then closes. No request to parse, nothing to configure; the
//! file's mode (0600) keeps it to the agent's user, as the pins are.
//!
//! A socket rather than a file the agent rewrites: a report is made when asked, so it is never
//! stale (a file outlives a killed agent and says it is fine), and "is it running" is whether
//! anything answers.

use std::{
    fs, io,
    io::Read as _,
    os::unix::{
        fs::{FileTypeExt, MetadataExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::{
    io::AsyncWriteExt,
    sync::{mpsc, oneshot},
};

use super::{Report, FORMAT_VERSION};

/// How long the agent may take to make a report before the connection is dropped.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's side: each request is a channel the event loop sends its report down.
pub type Requests = mpsc::Sender<oneshot::Sender<Report>>;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "another dns-xdp agent answers on the status socket {}; stop it, or give this one \
         another --status-socket",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error("{} is not a socket; give dns-xdp another --status-socket", path.display())]
    NotASocket { path: PathBuf },
    #[error(
        "cannot make the status socket {}: {source}; run dns-xdp as root, or give it another \
         --status-socket",
        path.display()
    )]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The bound socket; dropping it removes the file (if it is still this socket's).
pub struct StatusSocket {
    path: PathBuf,
    listener: Option<UnixListener>,
    /// (device, inode) of the socket file, so a drop never removes another agent's.
    id: (u64, u64),
}

impl StatusSocket {
    /// Binds `path`, creating its directory if needed. A socket file nobody answers on (left
    /// by a killed agent) is replaced; one an agent answers on is [`SocketError::Busy`], and
    /// anything else at `path` is left alone ([`SocketError::NotASocket`]).
    pub fn bind(path: &Path) -> Result<Self, SocketError> {
        let bind_err = |source| SocketError::Bind {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(bind_err)?;
        }
        if fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_socket()) {
            return Err(SocketError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(SocketError::Busy {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                fs::remove_file(path).map_err(bind_err)?;
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let meta = fs::metadata(path).map_err(bind_err)?;
        Ok(Self {
            path: path.to_path_buf(),
            listener: Some(listener),
            id: (meta.dev(), meta.ino()),
        })
    }

    /// Answers every connection with a report from `requests` until the task is dropped.
    /// Called once.
    pub fn serve(
        &mut self,
        requests: Requests,
    ) -> io::Result<impl std::future::Future<Output = ()>> {
        let listener = tokio::net::UnixListener::from_std(
            self.listener
                .take()
                .expect("a status socket is served once"),
        )?;
        Ok(async move {
            loop {
                let mut stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    // Out of descriptors and the like: try again a little later.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let requests = requests.clone();
                tokio::spawn(async move {
                    let (reply, report) = oneshot::channel();
                    if requests.send(reply).await.is_err() {
                        return;
                    }
                    let Ok(Ok(report)) = tokio::time::timeout(ANSWER_TIMEOUT, report).await else {
                        return;
                    };
                    let mut line = serde_json::to_vec(&report).expect("a report serialises");
                    line.push(b'\n');
                    let _ = tokio::time::timeout(ANSWER_TIMEOUT, stream.write_all(&line)).await;
                });
            }
        })
    }
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        if fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Why no report could be had.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("no agent answers on {} ({source})", path.display())]
    NotRunning {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot connect to the status socket {}: {source}; run as the agent's user (root)",
        path.display()
    )]
    Denied {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the agent did not answer on {} within {timeout:?}: it is stuck or overloaded",
        path.display()
    )]
    Silent { path: PathBuf, timeout: Duration },
    #[error("the answer on {} is not a status report this dns-xdp reads: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

/// Connects to the agent's status socket at `path` and reads its report, waiting at most
/// `timeout` for it.
pub fn ask(path: &Path, timeout: Duration) -> Result<Report, AskError> {
    let mut stream = UnixStream::connect(path).map_err(|source| match source.kind() {
        io::ErrorKind::PermissionDenied => AskError::Denied {
            path: path.to_path_buf(),
            source,
        },
        _ => AskError::NotRunning {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let silent = || AskError::Silent {
        path: path.to_path_buf(),
        timeout,
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|_| silent())?;
    let mut text = Vec::new();
    if let Err(e) = stream.read_to_end(&mut text) {
        return Err(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => silent(),
            _ => AskError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
        });
    }
    if text.is_empty() {
        // The agent dropped the connection: its event loop did not answer in time.
        return Err(silent());
    }
    parse(&text).map_err(|reason| AskError::Unreadable {
        path: path.to_path_buf(),
        reason,
    })
}

/// A report from its JSON, refusing another layout version with a word on why.
fn parse(text: &[u8]) -> Result<Report, String> {
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "it is of version {v} and this dns-xdp reads version {FORMAT_VERSION}; use the \
                 agent's own binary"
            ))
        }
        None => return Err("it has no version".into()),
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::problems::tests::report;

    #[tokio::test]
    async fn a_connection_gets_the_event_loops_report_and_the_file_goes_with_the_socket() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-status-{}", std::process::id()));
        let path = dir.join("status.sock");
        let e = ask(&path, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, AskError::NotRunning { .. }), "{e}");

        let mut socket = StatusSocket::bind(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            StatusSocket::bind(&path),
            Err(SocketError::Busy { .. })
        ));
        let (requests, mut asked) = mpsc::channel(4);
        let served = tokio::spawn(socket.serve(requests).unwrap());
        // The event loop's part.
        let want = report();
        let answer = want.clone();
        tokio::spawn(async move {
            while let Some(reply) = asked.recv().await {
                let _ = reply.send(answer.clone());
            }
        });
        let got = tokio::task::spawn_blocking(move || ask(&path, Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, want);

        served.abort();
        drop(socket);
        let path = dir.join("status.sock");
        assert!(!path.exists());
        // A socket file nobody answers on is a killed agent's: replaced.
        let stale = UnixListener::bind(&path).unwrap();
        drop(stale);
        let again = StatusSocket::bind(&path).unwrap();
        drop(again);
        // A file that is no socket is never removed.
        fs::write(&path, "not a socket").unwrap();
        assert!(matches!(
            StatusSocket::bind(&path),
            Err(SocketError::NotASocket { .. })
        ));
        assert!(path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let mut value = serde_json::to_value(report()).unwrap();
        value["version"] = 2.into();
        let e = parse(value.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
        assert!(parse(b"{}").unwrap_err().contains("no version"));
    }
}
