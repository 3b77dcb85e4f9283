//! Closing the private display's windows as a person does: no window
//! manager runs on the kit's Xvfb, so the test plays its close button and
//! sends the window `WM_DELETE_WINDOW`, which GTK turns into a close request
//! (the app's own close handling runs, unlike `xdotool windowclose`, which
//! destroys the X window under it).

use std::process::Stdio;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};

use super::Desktop;

impl Desktop {
    /// Asks every visible window whose title matches `name` (a regular
    /// expression) to close; how many were asked.
    pub fn close_windows(&self, name: &str) -> usize {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("xdotool runs (Debian xdotool)");
        let windows: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        let (x11, _) = x11rb::connect(Some(&self.display)).expect("the kit's display answers");
        let atom = |name: &[u8]| {
            x11.intern_atom(false, name)
                .expect("X answers")
                .reply()
                .expect("X names the atom")
                .atom
        };
        let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
        for &window in &windows {
            let event = ClientMessageEvent::new(
                32,
                window,
                protocols,
                [delete, x11rb::CURRENT_TIME, 0, 0, 0],
            );
            x11.send_event(false, window, EventMask::NO_EVENT, event)
                .expect("X takes the event");
        }
        x11.flush().expect("X takes the events");
        windows.len()
    }
}
