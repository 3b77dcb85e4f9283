//! The tray as a desktop panel hosts it: a StatusNotifierWatcher of the
//! test's own on the private bus, which records each tray icon that
//! registers, and the icon's menu read and clicked over D-Bus (dbusmenu), as
//! a panel does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::wait::until;

/// A StatusNotifierWatcher that records each tray icon that registers.
#[derive(Default, Clone)]
#[allow(missing_debug_implementations)] // a bus connection; nothing to show
pub struct Tray {
    items: Arc<Mutex<Vec<(String, String)>>>,
    connection: Option<zbus::Connection>,
}

struct Watcher {
    items: Arc<Mutex<Vec<(String, String)>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let (name, path) = if service.starts_with('/') {
            (sender, service.to_owned())
        } else {
            (service.to_owned(), "/StatusNotifierItem".to_owned())
        };
        self.items.lock().unwrap().push((name, path));
    }

    async fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    async fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .map(|(name, path)| format!("{name}{path}"))
            .collect()
    }

    #[zbus(property)]
    async fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    async fn protocol_version(&self) -> i32 {
        0
    }
}

/// One menu entry.
#[derive(Debug, Clone)]
pub struct MenuEntry {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    pub toggled: Option<bool>,
}

impl Tray {
    /// Serves the watcher on the bus at `bus`.
    pub(super) async fn watch(bus: &str) -> Tray {
        let items = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::connection::Builder::address(bus)
            .unwrap()
            .serve_at(
                "/StatusNotifierWatcher",
                Watcher {
                    items: Arc::clone(&items),
                },
            )
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .build()
            .await
            .expect("the tray watcher connects to the test bus");
        Tray {
            items,
            connection: Some(connection),
        }
    }

    /// Whether a tray icon registered so far.
    pub fn registered(&self) -> bool {
        !self.items.lock().unwrap().is_empty()
    }

    /// A property of the app's tray item, once it registered, with the
    /// item's bus name.
    async fn item_property(&self, property: &str) -> (String, zbus::zvariant::OwnedValue) {
        let (name, path) = until(60, "a tray icon to register", async || {
            self.items.lock().unwrap().last().cloned()
        })
        .await;
        let connection = self.connection.as_ref().unwrap();
        let reply = connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.kde.StatusNotifierItem", property),
            )
            .await
            .unwrap_or_else(|e| panic!("the tray item has no {property}: {e}"));
        (name, reply.body().deserialize().unwrap())
    }

    /// The app's tray item (bus name, menu path), once it registered.
    pub async fn menu_address(&self) -> (String, String) {
        let (name, value) = self.item_property("Menu").await;
        let menu: zbus::zvariant::OwnedObjectPath = value.try_into().unwrap();
        (name, menu.to_string())
    }

    /// The icon the tray item shows now (a file name or icon name).
    pub async fn icon(&self) -> String {
        let (_, value) = self.item_property("IconName").await;
        String::try_from(value).unwrap_or_default()
    }

    /// The menu's entries, in order (separators left out).
    pub async fn menu(&self) -> Vec<MenuEntry> {
        let (name, path) = self.menu_address().await;
        let connection = self.connection.as_ref().unwrap();
        let reply = connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .expect("GetLayout answers");
        type Layout = (
            i32,
            HashMap<String, zbus::zvariant::OwnedValue>,
            Vec<zbus::zvariant::OwnedValue>,
        );
        let (_revision, (_root, _props, children)): (u32, Layout) =
            reply.body().deserialize().unwrap();
        let mut entries = Vec::new();
        for child in &children {
            collect(child, &mut entries);
        }
        entries
    }

    /// The entry whose label starts with `prefix`.
    pub async fn entry(&self, prefix: &str) -> MenuEntry {
        let menu = self.menu().await;
        menu.iter()
            .find(|e| e.label.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no tray menu entry {prefix:?} in {menu:?}"))
    }

    /// Clicks an entry, as a tray host does.
    pub async fn click(&self, id: i32) {
        let (name, path) = self.menu_address().await;
        let connection = self.connection.as_ref().unwrap();
        connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(id, "clicked", zbus::zvariant::Value::from(0i32), 0u32),
            )
            .await
            .expect("the menu takes the click");
    }
}

/// Walks a dbusmenu layout `(ia{sv}av)`.
fn collect(value: &zbus::zvariant::Value<'_>, out: &mut Vec<MenuEntry>) {
    use zbus::zvariant::Value as V;
    let value = match value {
        V::Value(inner) => inner.as_ref(),
        other => other,
    };
    let V::Structure(structure) = value else {
        return;
    };
    let fields = structure.fields();
    let (Some(V::I32(id)), Some(V::Dict(props)), Some(V::Array(children))) =
        (fields.first(), fields.get(1), fields.get(2))
    else {
        return;
    };
    let props: HashMap<String, zbus::zvariant::OwnedValue> =
        props.try_clone().unwrap().try_into().unwrap_or_default();
    let text = |key: &str| {
        props
            .get(key)
            .and_then(|v| String::try_from(v.try_clone().unwrap()).ok())
    };
    if *id != 0 && text("type").as_deref() != Some("separator") {
        out.push(MenuEntry {
            id: *id,
            label: text("label").unwrap_or_default().replace('_', ""),
            enabled: props
                .get("enabled")
                .and_then(|v| bool::try_from(v.try_clone().unwrap()).ok())
                .unwrap_or(true),
            toggled: props
                .get("toggle-state")
                .and_then(|v| i32::try_from(v.try_clone().unwrap()).ok())
                .map(|s| s == 1),
        });
    }
    for child in children.iter() {
        collect(child, out);
    }
}
