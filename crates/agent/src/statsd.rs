//! StatsD metrics, as the Semaphore agent publishes them.
//!
//! When a person gives the agent a StatsD host, port and namespace, it sends
//! counters and timings of its work ([`metric`]) as plain StatsD lines over
//! UDP, one metric per datagram. Without them it sends nothing.
//!
//! Image pulls go out twice: under Gantry's names (`docker.pull.*`) and
//! under the Semaphore agent's (`compose_ci.docker_pull.duration`,
//! `compose_ci.docker_pull.success.rate`, `compose_ci.docker_pull.failure.rate`),
//! tagged with the image. Plain StatsD has no tags; the tags are written
//! the DogStatsD way (`name:1|c|#image:busybox:1`), which the Datadog
//! agent, Telegraf's statsd input and statsd_exporter read.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// The metric names the agent sends, each prefixed with the namespace.
///
/// They follow the Semaphore agent's (`docker_pull.duration`,
/// `docker_pull.success.rate`, `docker_pull.failure.rate`), with dots between
/// words, and add the task counters a Gantry hub's operators watch.
pub mod metric {
    /// How long pulling a task's image took (a timing).
    pub const DOCKER_PULL_DURATION: &str = "docker.pull.duration";
    /// An image pull that succeeded (a count).
    pub const DOCKER_PULL_SUCCESS: &str = "docker.pull.success";
    /// An image pull that failed (a count).
    pub const DOCKER_PULL_FAILURE: &str = "docker.pull.failure";
    /// A task the agent started running (a count).
    pub const TASKS_STARTED: &str = "tasks.started";
    /// A task that ran to its end, whatever its exit code (a count).
    pub const TASKS_FINISHED: &str = "tasks.finished";
    /// A task that failed before or while running: a bad image, a lost
    /// container, a timeout (a count).
    pub const TASKS_FAILED: &str = "tasks.failed";
    /// The Semaphore agent's name for how long a pull took (a timing,
    /// tagged `image`).
    pub const COMPOSE_PULL_DURATION: &str = "compose_ci.docker_pull.duration";
    /// The Semaphore agent's name for a pull that succeeded (a count, tagged `image`).
    pub const COMPOSE_PULL_SUCCESS: &str = "compose_ci.docker_pull.success.rate";
    /// The Semaphore agent's name for a pull that failed (a count, tagged `image`).
    pub const COMPOSE_PULL_FAILURE: &str = "compose_ci.docker_pull.failure.rate";
}

/// Sends StatsD metrics over UDP; sending never fails the caller (a lost
/// packet is fine for metrics).
#[derive(Debug)]
pub struct Statsd {
    socket: UdpSocket,
    /// The namespace and its trailing dot, or nothing: what every metric name
    /// starts with.
    prefix: String,
}

impl Statsd {
    /// host, port, and a namespace prefixed to every metric ("agent.prod" →
    /// "agent.prod.docker.pull.duration"; "" adds nothing). Resolves the
    /// address once, so a later DNS change needs a restart.
    pub fn new(host: &str, port: u16, namespace: &str) -> io::Result<Statsd> {
        let address = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the StatsD host {host:?} has no address"),
            )
        })?;
        let local: SocketAddr = if address.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(address)?;
        // A metric must never hold up the task it measures, and the agent's
        // callers are async: a full send buffer drops the datagram instead.
        socket.set_nonblocking(true)?;
        let namespace = sanitize(namespace.trim_matches('.'));
        let prefix = if namespace.is_empty() {
            String::new()
        } else {
            format!("{namespace}.")
        };
        Ok(Statsd { socket, prefix })
    }

    /// Adds `value` to a counter: `name:1|c`.
    pub fn count(&self, metric: &str, value: i64) {
        self.send(metric, &value.to_string(), "c", &[]);
    }

    /// Records a duration in whole milliseconds: `name:123|ms`.
    pub fn timing(&self, metric: &str, duration: Duration) {
        self.send(metric, &duration.as_millis().to_string(), "ms", &[]);
    }

    /// [`Statsd::count`] with DogStatsD tags: `name:1|c|#key:value,…`.
    pub fn count_tagged(&self, metric: &str, value: i64, tags: &[(&str, &str)]) {
        self.send(metric, &value.to_string(), "c", tags);
    }

    /// [`Statsd::timing`] with DogStatsD tags: `name:123|ms|#key:value,…`.
    pub fn timing_tagged(&self, metric: &str, duration: Duration, tags: &[(&str, &str)]) {
        self.send(metric, &duration.as_millis().to_string(), "ms", tags);
    }

    /// Sets a gauge: `name:1.5|g`. StatsD reads a value with a sign as a
    /// change to the gauge rather than its new value; NaN and infinities are
    /// not sent, since no StatsD server can read them.
    pub fn gauge(&self, metric: &str, value: f64) {
        if !value.is_finite() {
            tracing::debug!(
                metric,
                value,
                "not sending a gauge that is not a finite number"
            );
            return;
        }
        self.send(metric, &value.to_string(), "g", &[]);
    }

    fn send(&self, metric: &str, value: &str, kind: &str, tags: &[(&str, &str)]) {
        let mut line = format!("{}{}:{value}|{kind}", self.prefix, sanitize(metric));
        for (i, (key, value)) in tags.iter().enumerate() {
            line.push_str(if i == 0 { "|#" } else { "," });
            line.push_str(&sanitize(key));
            line.push(':');
            line.push_str(&tag_value(value));
        }
        if let Err(error) = self.socket.send(line.as_bytes()) {
            // A refused or dropped datagram only loses one metric; the
            // caller's work goes on, so this is worth no more than debug.
            tracing::debug!(%error, line, "could not send a StatsD metric");
        }
    }
}

/// A tag's value with what would end it or the line (`,` `|` `#`,
/// whitespace and other control characters) replaced with `_`; a `:` stays,
/// as in `registry:5000/app:1`.
fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            ',' | '|' | '#' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// Replaces the characters that would break a StatsD line (`:` `|` `@`,
/// whitespace and other control characters) with `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ':' | '|' | '@' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A StatsD server on a free port of the loopback interface.
    fn server() -> (UdpSocket, u16) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        (socket, port)
    }

    fn receive(server: &UdpSocket) -> String {
        let mut buffer = [0u8; 1500];
        let length = server.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }

    #[test]
    fn sends_each_kind_with_the_namespace() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "agent.prod").unwrap();

        statsd.count(metric::DOCKER_PULL_SUCCESS, 1);
        assert_eq!(receive(&server), "agent.prod.docker.pull.success:1|c");

        statsd.count(metric::TASKS_FAILED, -2);
        assert_eq!(receive(&server), "agent.prod.tasks.failed:-2|c");

        statsd.timing(metric::DOCKER_PULL_DURATION, Duration::from_micros(123_900));
        assert_eq!(receive(&server), "agent.prod.docker.pull.duration:123|ms");

        statsd.gauge("tasks.running", 1.5);
        assert_eq!(receive(&server), "agent.prod.tasks.running:1.5|g");

        statsd.gauge("tasks.running", 3.0);
        assert_eq!(receive(&server), "agent.prod.tasks.running:3|g");
    }

    #[test]
    fn tags_follow_the_dogstatsd_way() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "agent.prod").unwrap();
        let tags = [("image", "registry:5000/team/app:1"), ("odd", "a,b|c#d e")];
        statsd.count_tagged(metric::COMPOSE_PULL_SUCCESS, 1, &tags);
        assert_eq!(
            receive(&server),
            "agent.prod.compose_ci.docker_pull.success.rate:1|c|#image:registry:5000/team/app:1,odd:a_b_c_d_e"
        );
        statsd.timing_tagged(
            metric::COMPOSE_PULL_DURATION,
            Duration::from_millis(42),
            &tags[..1],
        );
        assert_eq!(
            receive(&server),
            "agent.prod.compose_ci.docker_pull.duration:42|ms|#image:registry:5000/team/app:1"
        );
    }

    #[test]
    fn an_empty_namespace_adds_no_dot() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "").unwrap();
        statsd.count(metric::TASKS_STARTED, 1);
        assert_eq!(receive(&server), "tasks.started:1|c");
    }

    #[test]
    fn a_namespace_ending_in_a_dot_gets_one_dot() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "agent.").unwrap();
        statsd.count(metric::TASKS_FINISHED, 1);
        assert_eq!(receive(&server), "agent.tasks.finished:1|c");
    }

    #[test]
    fn names_cannot_break_the_line() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "a:b").unwrap();
        statsd.count("x|y@z\nw:v q", 1);
        assert_eq!(receive(&server), "a_b.x_y_z_w_v_q:1|c");
    }

    #[test]
    fn gauges_that_are_not_numbers_are_dropped() {
        let (server, port) = server();
        let statsd = Statsd::new("127.0.0.1", port, "").unwrap();
        statsd.gauge("g", f64::NAN);
        statsd.gauge("g", f64::INFINITY);
        statsd.gauge("g", 2.25);
        assert_eq!(receive(&server), "g:2.25|g");
    }

    #[test]
    fn is_shared_between_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<Statsd>();
    }

    #[test]
    fn nobody_listening_is_not_an_error() {
        let (server, port) = server();
        drop(server);
        let statsd = Statsd::new("127.0.0.1", port, "agent").unwrap();
        // The first send may draw an ICMP refusal that the next send reports;
        // neither may panic or reach the caller.
        for _ in 0..3 {
            statsd.count(metric::TASKS_STARTED, 1);
        }
    }
}
