//! The rules read over the system D-Bus: UPower's `OnBattery`, and
//! logind's idle hint where no X display is there to ask.
//!
//! The system bus is the one DBUS_SYSTEM_BUS_ADDRESS names (zbus honours
//! it), else `/var/run/dbus/system_bus_socket`; tests give it a private bus
//! with python3-dbusmock's upower template. The connection is opened on
//! first use and again after it breaks; a bus or service that is not there
//! reads as "no" (not on battery, not idle known) and is logged once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zbus::zvariant::OwnedValue;

/// UPower's well-known name, object and interface.
const UPOWER: (&str, &str, &str) = (
    "org.freedesktop.UPower",
    "/org/freedesktop/UPower",
    "org.freedesktop.UPower",
);

/// logind's view of the user running the agent: `IdleHint` and
/// `IdleSinceHint` over all of their sessions (a user service is in none,
/// so `session/auto` would not resolve).
const LOGIND_USER: (&str, &str, &str) = (
    "org.freedesktop.login1",
    "/org/freedesktop/login1/user/self",
    "org.freedesktop.login1.User",
);

/// The system bus, connected lazily.
#[derive(Debug, Default)]
pub struct SystemBus {
    /// Another bus's address (tests); `None` is the system bus.
    address: Option<String>,
    connection: Option<zbus::Connection>,
    /// What the last failure was, so each is logged once.
    logged: Option<String>,
}

impl SystemBus {
    /// The bus at `address` (`unix:path=…`) in place of the system bus.
    pub fn at(address: impl Into<String>) -> SystemBus {
        SystemBus {
            address: Some(address.into()),
            ..SystemBus::default()
        }
    }

    /// Whether the machine runs on battery; `false` when UPower cannot say.
    pub async fn on_battery(&mut self) -> bool {
        match self.property(UPOWER, "OnBattery").await {
            Some(value) => bool::try_from(value).unwrap_or(false),
            None => false,
        }
    }

    /// How long the person's sessions have been idle by logind's hint:
    /// zero while any session is active; `None` when logind cannot say.
    pub async fn idle(&mut self) -> Option<Duration> {
        let idle = bool::try_from(self.property(LOGIND_USER, "IdleHint").await?).ok()?;
        if !idle {
            return Some(Duration::ZERO);
        }
        // Microseconds since the epoch (CLOCK_REALTIME).
        let since = u64::try_from(self.property(LOGIND_USER, "IdleSinceHint").await?).ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(now.saturating_sub(Duration::from_micros(since)))
    }

    async fn property(
        &mut self,
        (service, path, interface): (&str, &str, &str),
        name: &str,
    ) -> Option<OwnedValue> {
        if self.connection.is_none() {
            let connection = match &self.address {
                Some(address) => match zbus::connection::Builder::address(address.as_str()) {
                    Ok(builder) => builder.build().await,
                    Err(error) => Err(error),
                },
                None => zbus::Connection::system().await,
            };
            match connection {
                Ok(connection) => self.connection = Some(connection),
                Err(error) => {
                    self.log(format!("cannot reach the system D-Bus: {error}"));
                    return None;
                }
            }
        }
        let connection = self.connection.as_ref()?;
        let reply = connection
            .call_method(
                Some(service),
                path,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(interface, name),
            )
            .await;
        match reply.and_then(|message| message.body().deserialize::<OwnedValue>()) {
            Ok(value) => {
                self.logged = None;
                Some(value)
            }
            Err(error) => {
                if matches!(error, zbus::Error::InputOutput(_)) {
                    self.connection = None;
                }
                self.log(format!("cannot read {service} {name}: {error}"));
                None
            }
        }
    }

    fn log(&mut self, problem: String) {
        if self.logged.as_ref() != Some(&problem) {
            tracing::warn!(%problem, "a yield rule cannot read its source and holds still");
            self.logged = Some(problem);
        }
    }
}
