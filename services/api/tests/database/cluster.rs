//! A throwaway PostgreSQL cluster of the tests' own, for what the shared server cannot be
//! bent to: TLS on or off, with a certificate from a CA that `openssl` made here, and only
//! TLS connections let in (`hostssl`), as RDS does with `rds.force_ssl = 1`.
//!
//! The server and the certificates are PostgreSQL's and OpenSSL's, not the runner's code:
//! they are the oracle for what the runner's rustls client accepts and refuses. It runs
//! from the installed binaries; as root, as the `postgres` user (PostgreSQL refuses root).

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "tls-test";

/// The names the server's certificate is issued for.
pub const CERT_NAMES: &str = "DNS:localhost";

pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Cluster {
    /// Starts a cluster that takes TLS connections only (`tls`), or plain ones only.
    pub fn start(tls: bool) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "api-tls-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make_certificates(&dir);
        let owner = owner();
        std::fs::write(dir.join("password"), PASSWORD).unwrap();
        chown_all(&dir, owner);
        run(tool("initdb", owner)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=scram-sha-256", "--encoding=UTF8"])
            .arg(format!("--pwfile={}", dir.join("password").display())));
        if tls {
            let hba = dir.join("data/pg_hba.conf");
            let rules = std::fs::read_to_string(&hba).unwrap();
            let only_tls = rules.replace("\nhost ", "\nhostssl ");
            std::fs::write(&hba, only_tls).unwrap();
        }
        let port = free_port();
        let mut server = tool("postgres", owner);
        server
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(&dir)
            .args(["-c", &format!("ssl={}", if tls { "on" } else { "off" })])
            .args([
                "-c",
                &format!("ssl_cert_file={}", dir.join("server.pem").display()),
            ])
            .args([
                "-c",
                &format!("ssl_key_file={}", dir.join("server.key").display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = server.spawn().expect("starting postgres");
        let cluster = Cluster { dir, port, child };
        cluster.wait_ready();
        cluster
    }

    /// A URL for `host` (the certificate names `localhost`, not `127.0.0.1`) and `query`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/postgres?{query}",
            self.port
        )
    }

    /// The CA that signed the server's certificate; `other_ca.pem` signed nothing here.
    pub fn ca(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Until the server accepts connections, as `pg_isready` (PostgreSQL's own probe)
    /// says: it listens before it does, answering "the database system is starting up".
    fn wait_ready(&self) {
        let started = Instant::now();
        let accepts = || {
            tool("pg_isready", None)
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|status| status.success())
        };
        while !accepts() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the test cluster in {} did not accept connections on {} within 30 s",
                self.dir.display(),
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: backends end with the postmaster.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The CA, another CA, and a server certificate the first signed for [`CERT_NAMES`].
fn make_certificates(dir: &Path) {
    for ca in ["ca", "other_ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=api test {ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName={CERT_NAMES}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    // PostgreSQL refuses a key that others can read.
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is missing: install it with `sudo apt-get install -y openssl`");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// As root, the `postgres` user's uid and gid (the server package creates it).
fn owner() -> Option<(u32, u32)> {
    let me = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    if me.trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "PostgreSQL refuses to run as root and there is no postgres user: \
             install the postgresql package (it creates that user)"
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    Some((id("-u"), id("-g")))
}

fn chown_all(dir: &Path, owner: Option<(u32, u32)>) {
    let Some((uid, gid)) = owner else { return };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
    }
}

/// `name` from the newest installed PostgreSQL (`XTASK_PG_BINDIR` overrides), as `owner`.
fn tool(name: &str, owner: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(bindir().join(name));
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .max_by_key(|(version, _)| *version);
    newest.map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server binaries (initdb, postgres) are missing: \
             `sudo apt-get install -y postgresql`, or set XTASK_PG_BINDIR to their folder"
        )
    })
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
