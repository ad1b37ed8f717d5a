//! The stack's own PostgreSQL, started when tasks run as containers: services with
//! migrations get a database of their own, so their migration task and their health check
//! run against a real server instead of a model.
//!
//! No image can be pulled here, and a distribution's cluster listens on localhost, which
//! containers cannot reach; so the server is started from the installed binaries, on the
//! stack's folder, listening on 127.0.0.1 (for people and tests) and on the Docker bridge's
//! gateway (for containers, which reach it as `host.docker.internal`). PostgreSQL refuses
//! to run as root: as root, it runs as the `postgres` user the package created.

use crate::process;
use anyhow::{bail, Context as _, Result};
use sha2::{Digest as _, Sha256};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The superuser's password. The server listens on this machine and its bridge only, and
/// holds nothing but the example's local data (like the emulator's secret key, `local`).
pub const PASSWORD: &str = "local";

/// The binaries of the newest installed PostgreSQL: `$XTASK_PG_BINDIR`, Debian's
/// `/usr/lib/postgresql/<version>/bin`, or the folder of `postgres` on the PATH.
pub fn bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XTASK_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok();
    let newest = versions
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin);
    newest.or_else(|| {
        crate::install::which("postgres")?
            .parent()
            .map(Path::to_path_buf)
    })
}

/// The installed binaries, or how to install them.
fn require_bindir() -> Result<PathBuf> {
    bindir().ok_or_else(|| {
        crate::install::missing(
            "PostgreSQL's server binaries (initdb, postgres)",
            "sudo apt-get install -y postgresql (or set XTASK_PG_BINDIR to their folder)",
        )
    })
}

/// Docker's default bridge network, as containers see the host.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The host's address on the bridge (`host.docker.internal` in the containers).
    pub gateway: String,
    /// The bridge's subnet, which the server lets in.
    pub subnet: String,
}

impl Bridge {
    /// The bridge's subnet from Docker, and the host's address in it. Docker does not
    /// always report the gateway (`IPAM.Config` may hold the subnet alone), so the address
    /// is read from the host's interfaces: the one inside the subnet is the bridge's.
    pub fn inspect() -> Result<Bridge> {
        let out = Command::new("docker")
            .args([
                "network",
                "inspect",
                "bridge",
                "--format",
                "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
            ])
            .output()
            .context("running docker network inspect bridge")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let subnet = text
            .split_whitespace()
            .find_map(|s| Subnet::parse(s).map(|parsed| (s.to_owned(), parsed)));
        let Some((subnet, parsed)) = subnet.filter(|_| out.status.success()) else {
            bail!(
                "`docker network inspect bridge` gave no IPv4 subnet ({}): the local stack's \
                 PostgreSQL listens on that bridge for the task containers",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        let gateway = host_addresses()?
            .into_iter()
            .find(|address| parsed.contains(*address))
            .with_context(|| {
                format!(
                    "no interface of this host has an address in Docker's bridge subnet {subnet}"
                )
            })?;
        Ok(Bridge {
            gateway: gateway.to_string(),
            subnet,
        })
    }
}

/// An IPv4 network, `a.b.c.d/len`.
struct Subnet {
    base: u32,
    mask: u32,
}

impl Subnet {
    fn parse(text: &str) -> Option<Subnet> {
        let (address, len) = text.split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let len: u32 = len.parse().ok().filter(|len| *len <= 32)?;
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        Some(Subnet {
            base: u32::from(address) & mask,
            mask,
        })
    }

    fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask == self.base
    }
}

/// Every IPv4 address of this host's interfaces.
fn host_addresses() -> Result<Vec<Ipv4Addr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error()).context("listing the host's interfaces");
    }
    let mut found = Vec::new();
    let mut next = list;
    while !next.is_null() {
        // SAFETY: a node of the list getifaddrs returned, alive until freeifaddrs.
        let entry = unsafe { &*next };
        // SAFETY: ifa_addr, when set, points at a sockaddr whose family says its type.
        unsafe {
            if !entry.ifa_addr.is_null() && i32::from((*entry.ifa_addr).sa_family) == libc::AF_INET
            {
                let v4 = &*entry.ifa_addr.cast::<libc::sockaddr_in>();
                found.push(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)));
            }
        }
        next = entry.ifa_next;
    }
    // SAFETY: the list getifaddrs returned, freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// The server of one stack folder: its cluster in `<stack>/postgres`; as root, in
/// `$TMPDIR/xtask-postgres-<hash of the stack folder>`, owned by the `postgres` user, since
/// the stack's folder may sit where that user cannot reach (under `/root`, a private
/// temporary folder).
pub struct Server {
    pub root: PathBuf,
    /// The stack's folder, on the server's command line so it is recognised as the
    /// stack's (see `process::is_running`).
    marker: String,
    bin: PathBuf,
    /// The user the server runs as when this process is root (PostgreSQL refuses root).
    owner: Option<(u32, u32)>,
}

impl Server {
    pub fn new(stack_dir: &Path) -> Result<Server> {
        let owner = unprivileged_owner()?;
        let marker = stack_dir.display().to_string();
        let root = match owner {
            None => stack_dir.join("postgres"),
            Some(_) => {
                let hash = Sha256::digest(marker.as_bytes());
                let name = format!("xtask-postgres-{}", &xtask_aws::workspace::hex(&hash)[..16]);
                std::env::temp_dir().join(name)
            }
        };
        Ok(Server {
            root,
            marker,
            bin: require_bindir()?,
            owner,
        })
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin.join(name));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Creates the cluster once: a password for the superuser, and the bridge's subnet let
    /// in with it.
    pub fn init(&self, bridge: &Bridge) -> Result<()> {
        if self.data().join("PG_VERSION").is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.root)?;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
        let password = self.root.join("password");
        std::fs::write(&password, PASSWORD)?;
        self.chown(&self.root)?;
        self.chown(&password)?;
        let out = self
            .tool("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "--auth=scram-sha-256", "--encoding=UTF8"])
            .arg(format!("--pwfile={}", password.display()))
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb of {} failed: {}",
                self.data().display(),
                xtask_aws::text::tail(&String::from_utf8_lossy(&out.stderr), 5)
            );
        }
        let hba = self.data().join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba)?;
        rules.push_str(&format!(
            "# the local stack's task containers, on Docker's bridge\nhost all all {} scram-sha-256\n",
            bridge.subnet
        ));
        std::fs::write(&hba, rules)?;
        Ok(())
    }

    /// Starts the server detached on `port`; returns its pid.
    pub fn spawn(&self, port: u16, bridge: &Bridge, log: &Path) -> Result<u32> {
        let mut command = self.tool("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-p", &port.to_string()])
            .args(["-h", &format!("127.0.0.1,{}", bridge.gateway)])
            // Its socket beside the data, not in /run/postgresql (the distribution's).
            .arg("-k")
            .arg(&self.root)
            // A setting of no effect that names the stack on the command line.
            .args(["-c", &format!("xtask.stack={}", self.marker)]);
        process::spawn_detached(command, log)
    }

    /// Whether the server accepts connections on `port`.
    pub fn ready(&self, port: u16) -> bool {
        self.tool("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Creates database `name` unless it exists.
    pub fn create_database(&self, port: u16, name: &str) -> Result<()> {
        let out = self
            .tool("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .context("running createdb")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || stderr.contains("already exists") {
            return Ok(());
        }
        bail!("createdb {name} failed: {}", stderr.trim())
    }

    /// Deletes the cluster (the server must be stopped).
    pub fn wipe(&self) -> Result<()> {
        if self.root.exists() {
            std::fs::remove_dir_all(&self.root)
                .with_context(|| format!("deleting {}", self.root.display()))?;
        }
        Ok(())
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("handing {} to the postgres user", path.display()))?;
        }
        Ok(())
    }
}

/// The URL a task container connects with to database `name`.
pub fn container_url(port: u16, name: &str) -> String {
    format!("postgres://postgres:{PASSWORD}@host.docker.internal:{port}/{name}")
}

/// As root, the `postgres` user's uid and gid (the package creates it); else `None`, and
/// the server runs as the current user.
fn unprivileged_owner() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    // SAFETY: getpwnam with a valid C string; the record is read at once, before any
    // other call could reuse its static storage.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        bail!(
            "PostgreSQL refuses to run as root and there is no postgres user to run it as: \
             install the postgresql package (it creates that user) or run as another user"
        );
    }
    // SAFETY: non-null, just returned by getpwnam.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}
