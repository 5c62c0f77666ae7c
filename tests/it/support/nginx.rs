//! Debian's nginx started for one test: its own prefix in a temporary directory, the test's
//! `http {}` body, loopback ports, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx, killed when dropped.
pub struct Nginx {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The ports `start` was asked to wait for, in order.
    pub ports: Vec<u16>,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// The access log's lines so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

fn binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is installed (bash .ci/setup installs Debian's)")
}

/// A free loopback port (bound, then released for nginx to take).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts nginx in `dir` with `http_body` inside its `http {}` block (after temp paths;
/// `DIR` in it stands for the directory) and waits until each of `ports` accepts.
/// `prepare` writes what the config needs into the directory first (a site, certificates).
pub fn start(http_body: &str, ports: &[u16], prepare: impl FnOnce(&Path)) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepare(d);
    let body = http_body.replace("DIR", &d.display().to_string());
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{body}
}}
"#,
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let child = Command::new(binary())
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    // Killed on drop, also when it never comes up.
    let nginx = Nginx {
        child,
        dir,
        ports: ports.to_vec(),
    };
    for _ in 0..200 {
        let up = ports
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
        if up {
            return nginx;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let log = std::fs::read_to_string(nginx.dir.path().join("error.log"));
    panic!("nginx did not listen: {log:?}");
}

/// A self-signed certificate for `localhost` written as `cert.pem` and `key.pem` in `dir`.
pub fn write_localhost_cert(dir: &Path) {
    let tls = super::tls::self_signed(&["localhost"], &[]);
    std::fs::write(dir.join("cert.pem"), tls.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), tls.key_pem).unwrap();
}
