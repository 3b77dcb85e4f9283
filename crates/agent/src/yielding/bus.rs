//! The rules read over the system D-Bus: UPower's `OnBattery`, and
//! logind's idle hint where no X display is there to ask.
//!
//! The system bus is the one DBUS_SYSTEM_BUS_ADDRESS names (zbus honours
//! it), else `/var/run/dbus/system_bus_socket`; tests give it a private bus
//! with python3-dbusmock's upower template. The connection is opened on
//! first use and again after it breaks; a bus or service that is not there
//! reads as "no" (not on battery, not idle known) and is logged once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zbus::zvariant::{OwnedObjectPath, OwnedValue};

/// UPower's well-known name, object and interface.
const UPOWER: (&str, &str, &str) = (
    "org.freedesktop.UPower",
    "/org/freedesktop/UPower",
    "org.freedesktop.UPower",
);

/// logind, whose view of the user running the agent (`GetUser(uid)`)
/// has `IdleHint` and `IdleSinceHint` over all of their sessions (a user
/// service is in no session, so `session/auto` would not resolve).
const LOGIND: (&str, &str, &str) = (
    "org.freedesktop.login1",
    "/org/freedesktop/login1",
    "org.freedesktop.login1.Manager",
);
const LOGIND_USER: &str = "org.freedesktop.login1.User";

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
        let uid = nix::unistd::getuid().as_raw();
        let user: OwnedObjectPath = self.call(LOGIND, "GetUser", &(uid,)).await?;
        let at = (LOGIND.0, user.as_str(), LOGIND_USER);
        let idle = bool::try_from(self.property(at, "IdleHint").await?).ok()?;
        if !idle {
            return Some(Duration::ZERO);
        }
        // Microseconds since the epoch (CLOCK_REALTIME).
        let since = u64::try_from(self.property(at, "IdleSinceHint").await?).ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(now.saturating_sub(Duration::from_micros(since)))
    }

    async fn property(
        &mut self,
        (service, path, interface): (&str, &str, &str),
        name: &str,
    ) -> Option<OwnedValue> {
        let properties = (service, path, "org.freedesktop.DBus.Properties");
        self.call(properties, "Get", &(interface, name)).await
    }

    /// Calls `method` with `body` and reads the one value it answers.
    async fn call<T>(
        &mut self,
        (service, path, interface): (&str, &str, &str),
        method: &str,
        body: &(impl serde::Serialize + zbus::zvariant::DynamicType + Sync),
    ) -> Option<T>
    where
        T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
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
            .call_method(Some(service), path, Some(interface), method, body)
            .await;
        match reply.and_then(|message| message.body().deserialize::<T>()) {
            Ok(value) => {
                self.logged = None;
                Some(value)
            }
            Err(error) => {
                if matches!(error, zbus::Error::InputOutput(_)) {
                    self.connection = None;
                }
                self.log(format!("cannot ask {service} {method}: {error}"));
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
