//! Closing a window as a person does: a window manager answers a click on
//! the title bar's close button by sending the window a `WM_DELETE_WINDOW`
//! client message (ICCCM 4.2.8.1). The kit's Xvfb runs no window manager,
//! so the kit sends that message itself, over a real X connection.

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt as _, EventMask};

use super::Desktop;

impl Desktop {
    /// Asks each visible window whose title matches `name` (a regular
    /// expression) to close, as a window manager's close button does, and
    /// returns how many were asked.
    pub fn close_windows(&self, name: &str) -> usize {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", name])
            .output()
            .expect("xdotool runs (Debian xdotool)");
        let windows: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        let (conn, _) = x11rb::connect(Some(&self.display)).expect("the kit's Xvfb answers");
        let atom = |name: &[u8]| {
            conn.intern_atom(false, name)
                .expect("intern_atom is sent")
                .reply()
                .expect("the X server names the atom")
                .atom
        };
        let protocols = atom(b"WM_PROTOCOLS");
        let delete = atom(b"WM_DELETE_WINDOW");
        for &window in &windows {
            let message = ClientMessageEvent::new(
                32,
                window,
                protocols,
                [delete, x11rb::CURRENT_TIME, 0, 0, 0],
            );
            conn.send_event(false, window, EventMask::NO_EVENT, message)
                .expect("send_event is sent");
        }
        conn.flush().expect("the X connection flushes");
        // A round trip: the server has handled every request before its answer.
        conn.get_input_focus()
            .expect("get_input_focus is sent")
            .reply()
            .expect("the X server took the messages");
        windows.len()
    }
}
