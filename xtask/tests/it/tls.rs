//! HTTPS where a deploy meets it: health URLs and the webhook behind TLS. The server is
//! Python's `ssl` module (OpenSSL) and its CA and certificate come from `openssl req`, so
//! neither the TLS server nor its certificates are the tool's own code: the oracle is
//! OpenSSL accepting the handshake the tool's rustls client makes, and refusing it when the
//! tool was not told to trust the CA.

use crate::deploy::{Images, Project};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A CA, a certificate it signed for `localhost` and `127.0.0.1`, and an HTTPS server with
/// it that answers every GET with `{"status":"ok"}` and every POST with 200, logging each
/// request (`GET /path` or the POST's body) to `requests.log`.
struct TlsServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

const SERVER: &str = r#"
import http.server, ssl, sys
cert, key, log = sys.argv[1:4]
class Handler(http.server.BaseHTTPRequestHandler):
    def record(self, line):
        with open(log, "a") as f:
            f.write(line + "\n")
    def answer(self, body):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.record("GET " + self.path)
        self.answer(b'{"status":"ok"}')
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.record("POST " + self.path + " " + body.decode())
        self.answer(b"{}")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=xtask test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            d,
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
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
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
        let mut child = Command::new("python3")
            .args(["-c", SERVER, "server.pem", "server.key", "requests.log"])
            .current_dir(d)
            .stdout(Stdio::piped())
            .spawn()
            .expect("Python 3 is missing: install it with `sudo apt-get install -y python3`");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("the TLS server printed its port");
        TlsServer { dir, port, child }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[test]
fn https_health_urls_and_webhooks_work_with_a_trusted_ca_and_fail_clearly_without() {
    let server = TlsServer::start();
    let project = Project::new(Images::Shared);
    project.repo.replace(
        "deploy.toml",
        "local_stack = true\naccount_id = \"000000000000\"\n",
        &format!(
            "local_stack = true\naccount_id = \"000000000000\"\nservice_url = \"https://localhost:{}/{{name}}\"\nwebhook_env = \"IT_TLS_WEBHOOK\"\n",
            server.port
        ),
    );
    // The server stands in for the services' health endpoints only: api's smoke test
    // (scripts/smoke.py, which trusts XTASK_CA_BUNDLE as the tool does) would find no API
    // behind it.
    project
        .repo
        .replace("deploy.toml", "smoke = [\"scripts/smoke.py\"]\n", "");
    project.repo.commit("services behind HTTPS");
    let hook = format!("https://127.0.0.1:{}/hook", server.port);
    let ca = server.ca();

    // A bundle that is not one is refused before anything changes.
    let bad = project
        .command(&["--changed", "--format", "json"])
        .env("XTASK_CA_BUNDLE", project.repo.path().join("deploy.toml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("XTASK_CA_BUNDLE") && stderr.contains("deploy.toml"),
        "{stderr}"
    );
    assert!(
        project.ledger().is_empty(),
        "a refused deploy records nothing"
    );

    let trusted = project
        .command(&["--changed", "--format", "json", "--timeout", "30s"])
        .env("XTASK_CA_BUNDLE", &ca)
        .env("IT_TLS_WEBHOOK", &hook)
        .output()
        .unwrap();
    let trusted = crate::deploy::Deployed::from(trusted);
    trusted.expect(0);
    let requests = server.requests();
    assert!(requests.contains("GET /api/health"), "{requests}");
    assert!(
        requests.contains("POST /hook") && requests.contains("\"outcome\":\"success\""),
        "{requests}"
    );

    // Without the CA the handshake fails, and the message says how to trust it.
    project.change("services/api/src/main.rs");
    let untrusted = project
        .command(&["--changed", "--format", "json", "--timeout", "5s"])
        .env("IT_TLS_WEBHOOK", &hook)
        .output()
        .unwrap();
    let untrusted = crate::deploy::Deployed::from(untrusted);
    untrusted.expect(15);
    let all = untrusted.all_output();
    assert!(all.contains("UnknownIssuer"), "{all}");
    assert!(all.contains("XTASK_CA_BUNDLE"), "{all}");
    assert!(all.contains("certificate not trusted"), "{all}");
}
