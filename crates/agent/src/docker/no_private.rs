//! `--task-network no-private`: task containers reach the internet but not
//! the machine's private networks, enforced by iptables rules on the host.
//!
//! Under `no-private` every task container joins a Docker bridge network
//! whose interface Gantry names `gantryp…` ([`super::hardening`]): the shared
//! `gantry-no-private` network (inter-container traffic off) for tasks alone,
//! or the task's own network for a task with services. Two chains match those
//! interfaces (`-i gantryp+`), so they hold for every such network:
//!
//! - `GANTRY-NO-PRIVATE`, jumped to from Docker's `DOCKER-USER` chain (which
//!   Docker consults before its own forwarding rules and never rewrites):
//!   traffic routed through the host to another machine. Replies and traffic
//!   between `gantryp` bridges pass (Docker's own isolation rules still
//!   keep networks apart); the hub's addresses and the allowed ranges pass;
//!   RFC 1918, link-local, CGNAT (100.64/10) and every subnet the host is
//!   directly connected to (its LAN, whatever its range) are rejected.
//! - `GANTRY-NO-PRIVATE-HOST`, jumped to from `INPUT`: traffic to the host
//!   itself (any of its addresses). Only replies, the hub's addresses and the
//!   allowed ranges pass.
//!
//! Adding the rules needs root (CAP_NET_ADMIN in the host's namespace) and
//! an engine on this machine using iptables; the agent checks the jumps
//! before each task's container is made and puts back rules a firewall
//! reload removed. Only IPv4 is filtered: Gantry's networks are made
//! without IPv6.

use std::net::Ipv4Addr;

use crate::executor::ExecError;

/// The chain for traffic the host forwards.
pub const FORWARD_CHAIN: &str = "GANTRY-NO-PRIVATE";
/// The chain for traffic to the host itself.
pub const HOST_CHAIN: &str = "GANTRY-NO-PRIVATE-HOST";

/// The private ranges refused whatever the host's interfaces.
pub const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
];

/// What the rules let through: the hub's addresses and the allowed ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exceptions {
    /// Ranges (CIDR) or addresses, each passed to iptables' `-d`.
    pub ranges: Vec<String>,
}

/// The rules of both chains, as iptables arguments after `-A CHAIN`.
pub fn rules(
    exceptions: &Exceptions,
    connected: &[String],
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let replies = words("-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN");
    let mut forward = vec![replies.clone(), words("-o gantryp+ -j RETURN")];
    let mut host = vec![replies];
    for range in &exceptions.ranges {
        let pass = words(&format!("-d {range} -j RETURN"));
        forward.push(pass.clone());
        host.push(pass);
    }
    let mut refused: Vec<&str> = PRIVATE_RANGES.to_vec();
    refused.extend(connected.iter().map(String::as_str));
    for range in refused {
        forward.push(words(&format!("-d {range} -j REJECT")));
    }
    forward.push(words("-j RETURN"));
    host.push(words("-j REJECT"));
    (forward, host)
}

/// The IPv4 subnets the host reaches directly (its LAN and bridges), from
/// `/proc/net/route`'s routes without a gateway; the default route skipped.
pub fn connected_subnets(route_table: &str) -> Vec<String> {
    let mut subnets = Vec::new();
    for line in route_table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, dest, gateway, _, _, _, _, mask, ..] = fields[..] else {
            continue;
        };
        // The kernel prints the network-order address as a host-order number.
        let parse = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::from_be);
        let (Some(dest), Some(gateway), Some(mask)) = (parse(dest), parse(gateway), parse(mask))
        else {
            continue;
        };
        if gateway != 0 || mask == 0 {
            continue;
        }
        let subnet = format!("{}/{}", Ipv4Addr::from(dest), mask.count_ones());
        if !subnets.contains(&subnet) {
            subnets.push(subnet);
        }
    }
    subnets
}

/// The exceptions the rules were last installed with, to put them back.
static INSTALLED: std::sync::Mutex<Option<Exceptions>> = std::sync::Mutex::new(None);

/// Puts the chains and their jumps in place (replacing the chains' rules):
/// run at the agent's start.
pub async fn install(exceptions: &Exceptions) -> Result<(), ExecError> {
    *INSTALLED.lock().expect("no-private rules poisoned") = Some(exceptions.clone());
    write_rules(exceptions).await
}

async fn write_rules(exceptions: &Exceptions) -> Result<(), ExecError> {
    let table = tokio::fs::read_to_string("/proc/net/route")
        .await
        .unwrap_or_default();
    let (forward, host) = rules(exceptions, &connected_subnets(&table));
    for (chain, rules) in [(FORWARD_CHAIN, forward), (HOST_CHAIN, host)] {
        // `-N` fails when the chain exists; `-F` then empties it.
        let _ = iptables(&["-N", chain]).await;
        iptables(&["-F", chain]).await?;
        for rule in rules {
            let mut args = vec!["-A", chain];
            args.extend(rule.iter().map(String::as_str));
            iptables(&args).await?;
        }
    }
    add_jumps().await
}

/// Checks the jumps into the chains are there, and puts the rules back
/// whole when something removed them (a firewall reload, Docker recreating
/// `DOCKER-USER`). Cheap: two `-C` checks.
pub async fn ensure_jumps() -> Result<(), ExecError> {
    let mut whole = true;
    for (from, to) in [("DOCKER-USER", FORWARD_CHAIN), ("INPUT", HOST_CHAIN)] {
        whole &= iptables(&["-C", from, "-i", "gantryp+", "-j", to])
            .await
            .is_ok();
    }
    if whole {
        return Ok(());
    }
    let installed = INSTALLED.lock().expect("no-private rules poisoned").clone();
    tracing::warn!("the no-private firewall rules were removed; putting them back");
    write_rules(&installed.unwrap_or_default()).await
}

/// Adds each jump that is missing.
async fn add_jumps() -> Result<(), ExecError> {
    for (from, to) in [("DOCKER-USER", FORWARD_CHAIN), ("INPUT", HOST_CHAIN)] {
        let jump = ["-i", "gantryp+", "-j", to];
        let mut check = vec!["-C", from];
        check.extend(jump);
        if iptables(&check).await.is_err() {
            let mut insert = vec!["-I", from, "1"];
            insert.extend(jump);
            iptables(&insert).await?;
        }
    }
    Ok(())
}

/// Runs `iptables -w ARGS`; the error says what to do.
async fn iptables(args: &[&str]) -> Result<(), ExecError> {
    let output = tokio::process::Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .await
        .map_err(|e| {
            ExecError::Other(format!(
                "--task-network no-private needs the iptables command on this machine ({e}); \
                 install iptables, or choose --task-network full or none"
            ))
        })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(ExecError::Other(format!(
        "--task-network no-private could not set its firewall rule (iptables {}): {}; \
         it needs root (or CAP_NET_ADMIN) and a Docker engine on this machine that uses \
         iptables (with its DOCKER-USER chain); else choose --task-network full or none",
        args.join(" "),
        said.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    #[test]
    fn connected_subnets_skip_the_default_route() {
        assert_eq!(
            connected_subnets(ROUTES),
            vec!["192.0.2.0/24".to_owned(), "172.17.0.0/16".to_owned()]
        );
    }

    #[test]
    fn exceptions_come_before_refusals() {
        let exceptions = Exceptions {
            ranges: vec!["192.0.2.2".into(), "10.1.0.0/16".into()],
        };
        let (forward, host) = rules(&exceptions, &["192.0.2.0/24".into()]);
        let at = |rules: &[Vec<String>], text: &str| {
            rules.iter().position(|r| r.join(" ") == text).unwrap()
        };
        assert!(at(&forward, "-d 10.1.0.0/16 -j RETURN") < at(&forward, "-d 10.0.0.0/8 -j REJECT"));
        assert!(at(&forward, "-d 192.0.2.2 -j RETURN") < at(&forward, "-d 192.0.2.0/24 -j REJECT"));
        assert_eq!(forward.last().unwrap().join(" "), "-j RETURN");
        assert_eq!(host.last().unwrap().join(" "), "-j REJECT");
        assert!(at(&host, "-d 192.0.2.2 -j RETURN") > 0);
    }
}
