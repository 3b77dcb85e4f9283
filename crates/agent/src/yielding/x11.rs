//! "You are using this computer", read from the X server (when DISPLAY is
//! set): the time since the last keyboard or mouse input (the MIT-SCREEN-SAVER
//! extension, as `xprintidle` reads it) and whether a full-screen window is
//! open.
//!
//! Full screen means the active window (`_NET_ACTIVE_WINDOW`, kept by every
//! EWMH window manager) has `_NET_WM_STATE_FULLSCREEN`, or, without a window
//! manager to ask, a mapped top-level window covers the whole screen.
//!
//! One connection is kept open for as long as it works: an X server without
//! `-noreset` resets its idle timer whenever its last client leaves.

use std::time::Duration;

use x11rb::connection::Connection as _;
use x11rb::protocol::screensaver::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, MapState, Window};
use x11rb::rust_connection::RustConnection;

/// What the X server says about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// Since the last keyboard or mouse input.
    pub idle: Duration,
    /// A full-screen window is open.
    pub full_screen: bool,
}

/// A connection to an X display, opened on first use and again after it
/// breaks.
pub struct Display {
    /// The display's name (`:0`); `None` reads DISPLAY.
    name: Option<String>,
    connection: Option<(RustConnection, usize)>,
    /// Whether the last failure was logged (once per outage).
    logged: bool,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

/// Why the X server could not be read.
type XError = Box<dyn std::error::Error + Send + Sync>;

impl Display {
    /// The display named `name` (`:0`), or DISPLAY's with `None`.
    pub fn new(name: Option<String>) -> Display {
        Display {
            name,
            connection: None,
            logged: false,
        }
    }

    /// Reads the person's presence (blocking: a round trip or two to a local
    /// X server); `None` when the display cannot be reached.
    pub fn presence(&mut self) -> Option<Presence> {
        if self.connection.is_none() {
            match x11rb::connect(self.name.as_deref()) {
                Ok(connection) => self.connection = Some(connection),
                Err(error) => {
                    self.log(&error.to_string());
                    return None;
                }
            }
        }
        let (connection, screen) = self.connection.as_ref()?;
        match read(connection, *screen) {
            Ok(presence) => {
                self.logged = false;
                Some(presence)
            }
            Err(error) => {
                self.log(&error.to_string());
                self.connection = None;
                None
            }
        }
    }

    fn log(&mut self, error: &str) {
        if !self.logged {
            tracing::warn!(%error, "cannot read the X display's idle time; the activity rule holds still");
            self.logged = true;
        }
    }
}

fn read(connection: &RustConnection, screen: usize) -> Result<Presence, XError> {
    let screen = &connection.setup().roots[screen];
    let info = connection.screensaver_query_info(screen.root)?.reply()?;
    Ok(Presence {
        idle: Duration::from_millis(u64::from(info.ms_since_user_input)),
        full_screen: full_screen(
            connection,
            screen.root,
            screen.width_in_pixels,
            screen.height_in_pixels,
        )?,
    })
}

fn atom(connection: &RustConnection, name: &[u8]) -> Result<u32, XError> {
    Ok(connection.intern_atom(false, name)?.reply()?.atom)
}

/// The 32-bit values of a window's property, empty when it has none.
fn values(
    connection: &RustConnection,
    window: Window,
    property: u32,
    kind: AtomEnum,
) -> Result<Vec<u32>, XError> {
    let reply = connection
        .get_property(false, window, property, kind, 0, 64)?
        .reply()?;
    Ok(reply.value32().map(|v| v.collect()).unwrap_or_default())
}

fn full_screen(
    connection: &RustConnection,
    root: Window,
    width: u16,
    height: u16,
) -> Result<bool, XError> {
    let active = values(
        connection,
        root,
        atom(connection, b"_NET_ACTIVE_WINDOW")?,
        AtomEnum::WINDOW,
    )?;
    if let Some(&window) = active.first().filter(|w| **w != 0) {
        let state = values(
            connection,
            window,
            atom(connection, b"_NET_WM_STATE")?,
            AtomEnum::ATOM,
        )?;
        return Ok(state.contains(&atom(connection, b"_NET_WM_STATE_FULLSCREEN")?));
    }
    // No window manager says which window is active: any mapped top-level
    // window as large as the screen.
    for window in connection.query_tree(root)?.reply()?.children {
        let attributes = connection.get_window_attributes(window)?.reply()?;
        if attributes.map_state != MapState::VIEWABLE || attributes.override_redirect {
            continue;
        }
        let geometry = connection.get_geometry(window)?.reply()?;
        if geometry.x <= 0
            && geometry.y <= 0
            && i32::from(geometry.x) + i32::from(geometry.width) >= i32::from(width)
            && i32::from(geometry.y) + i32::from(geometry.height) >= i32::from(height)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
