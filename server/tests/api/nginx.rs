//! A real nginx (Debian's `nginx-light`, which `scripts/bootstrap.sh` installs) on a free
//! port, for the tests of the deployment's nginx configurations.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A file of `deploy/`.
pub fn deploy_file(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy")).join(path)
}

/// nginx running `http {}` content of the test's; stopped when dropped.
pub struct Nginx {
    pub port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `http` as the inside of its `http {}` block, where `{port}`
    /// stands for the port it listens on; returns once it listens.
    pub fn start(http: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let prefix = dir.path().display().to_string();
        // As root, nginx's workers would switch to `nobody`, who cannot use the tempdir.
        let user = if nix::unistd::geteuid().is_root() {
            "user root;"
        } else {
            ""
        };
        let conf = format!(
            "{user}
            daemon off;
            worker_processes 1;
            pid {prefix}/nginx.pid;
            error_log {prefix}/error.log warn;
            events {{ worker_connections 256; }}
            http {{
                access_log off;
                client_body_temp_path {prefix}/body;
                proxy_temp_path {prefix}/proxy;
                fastcgi_temp_path {prefix}/fastcgi;
                uwsgi_temp_path {prefix}/uwsgi;
                scgi_temp_path {prefix}/scgi;
                {http}
            }}",
            http = http.replace("{port}", &port.to_string()),
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("config written");
        let child = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx runs (Debian's nginx-light; scripts/bootstrap.sh installs it)");
        let mut nginx = Self { port, child, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = nginx.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && started.elapsed() < Duration::from_secs(10),
                "nginx did not listen: {}",
                nginx.errors()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    /// The URL of `path` through nginx.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx's error log.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master stops its workers (a killed master would leave
    /// them running, holding the test's output open).
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
