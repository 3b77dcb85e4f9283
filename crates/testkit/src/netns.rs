//! Two hosts on one machine: network namespaces joined by a veth pair.
//!
//! A hub deployed for a team runs on one machine and its agents on others,
//! reached over a real network: not loopback, where Gantry forgives plain
//! http. The tests of that deployment put the hub in one namespace and the
//! agent in another, each with its own loopback and one address on a shared
//! link, so every byte between them crosses an interface the way it would
//! between two machines, and "127.0.0.1" on one host is not the other's.
//!
//! Making namespaces needs root and iproute2's `ip`. [`Hosts::available`]
//! says whether this machine can; the tests skip where it cannot, unless
//! `GANTRY_REQUIRE_SERVICES=1` (CI runs as root, where it can).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// One host: a network namespace with an address on the shared link.
#[derive(Debug)]
pub struct Host {
    namespace: String,
    address: String,
}

impl Host {
    /// Its address on the link, e.g. `10.231.7.1`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `program` run inside this host's network namespace (`ip netns exec`,
    /// which execs it, so the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace])
            .arg(program.as_ref());
        command
    }
}

/// Two hosts, `server` (10.231.N.1) and `client` (10.231.N.2), joined by a
/// veth pair; both go away when this is dropped.
#[derive(Debug)]
pub struct Hosts {
    pub server: Host,
    pub client: Host,
}

/// Numbers this process's pairs, so tests running at once get their own.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl Hosts {
    /// Whether this machine can make namespaces: root, with `ip` installed.
    pub fn available() -> bool {
        nix::unistd::geteuid().is_root()
            && Command::new("ip")
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Makes the two namespaces and the link between them. Each pair gets
    /// its own /24 and interface names from the process id and a counter,
    /// so that concurrent tests and test binaries do not collide.
    pub fn new() -> std::io::Result<Hosts> {
        let serial = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{serial}", std::process::id() % 100_000);
        let subnet = 1 + (std::process::id() * 7 + serial * 13) % 250;
        let server = Host {
            namespace: format!("gantry-{tag}-s"),
            address: format!("10.231.{subnet}.1"),
        };
        let client = Host {
            namespace: format!("gantry-{tag}-c"),
            address: format!("10.231.{subnet}.2"),
        };
        let hosts = Hosts { server, client };
        hosts.wire(&format!("gs{tag}"), &format!("gc{tag}"))?;
        Ok(hosts)
    }

    fn wire(&self, server_end: &str, client_end: &str) -> std::io::Result<()> {
        for host in [&self.server, &self.client] {
            ip(&["netns", "add", &host.namespace])?;
            ip(&["-n", &host.namespace, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "link", "add", server_end, "type", "veth", "peer", "name", client_end,
        ])?;
        for (host, end) in [(&self.server, server_end), (&self.client, client_end)] {
            ip(&["link", "set", end, "netns", &host.namespace])?;
            let cidr = format!("{}/24", host.address);
            ip(&["-n", &host.namespace, "addr", "add", &cidr, "dev", end])?;
            ip(&["-n", &host.namespace, "link", "set", end, "up"])?;
        }
        Ok(())
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and its peer.
        for host in [&self.server, &self.client] {
            let _ = ip(&["netns", "del", &host.namespace]);
        }
    }
}

/// Runs `ip ARGS`; an error quotes what it said.
fn ip(args: &[&str]) -> std::io::Result<()> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "ip {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}
