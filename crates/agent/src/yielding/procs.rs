//! The machine's processes as /proc shows them: the person's exclusive
//! apps, a GPU process's name, and the processes Gantry's tasks started.
//!
//! Names are matched on `/proc/<pid>/comm` (the kernel keeps its first 15
//! bytes) and on the basename of `/proc/<pid>/exe` (readable for the
//! agent's own user's processes), case-insensitively, so `Blender`,
//! `blender` and a renamed binary's link all count.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The kernel's limit on `comm`: 15 bytes and a NUL.
const COMM_LEN: usize = 15;

/// A process's short name (`/proc/<pid>/comm`).
pub fn comm(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(text.trim_end_matches('\n').to_owned())
}

/// The basename of a process's executable, where /proc lets us read it.
fn exe_name(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let name = exe.file_name()?.to_string_lossy();
    // A replaced binary reads `name (deleted)`.
    Some(name.trim_end_matches(" (deleted)").to_owned())
}

/// Every process id now running.
fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether `name` (as the person wrote it) names a process whose comm or
/// executable is `comm` / `exe`.
fn names(name: &str, comm: &str, exe: Option<&str>) -> bool {
    let wanted = name.to_lowercase();
    let comm = comm.to_lowercase();
    let truncated: String = wanted.bytes().take(COMM_LEN).map(char::from).collect();
    comm == wanted
        || (wanted.len() > COMM_LEN && wanted.is_ascii() && comm == truncated)
        || exe.is_some_and(|exe| exe.to_lowercase() == wanted)
}

/// The first of `apps` (in the person's order) that is running, as they
/// wrote it; `None` when none is.
pub fn running_app(apps: &[String]) -> Option<String> {
    if apps.is_empty() {
        return None;
    }
    let running: Vec<(String, Option<String>)> = pids()
        .into_iter()
        .filter(|pid| *pid != std::process::id())
        .filter_map(|pid| Some((comm(pid)?, exe_name(pid))))
        .collect();
    apps.iter()
        .find(|app| {
            running
                .iter()
                .any(|(comm, exe)| names(app, comm, exe.as_deref()))
        })
        .cloned()
}

/// `pids` and every process descended from them: a task's CUDA process is
/// often a child of the process the agent started (or of a container's init).
pub fn with_descendants(pids: &HashSet<u32>) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in self::pids() {
        if let Some(parent) = parent(Path::new(&format!("/proc/{pid}/stat"))) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut all: HashSet<u32> = pids.clone();
    let mut todo: Vec<u32> = pids.iter().copied().collect();
    while let Some(pid) = todo.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            if all.insert(*child) {
                todo.push(*child);
            }
        }
    }
    all
}

/// The parent pid in a `/proc/<pid>/stat` line (after the `(comm)`, which may hold spaces).
fn parent(stat: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(stat).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_comm_exe_and_case() {
        assert!(names("Blender", "blender", None));
        assert!(names("blender", "other", Some("Blender")));
        assert!(names("DaVinci Resolve!", "davinci resolve", None));
        assert!(!names("blend", "blender", Some("blender")));
        assert!(!names("steam", "steamwebhelper", None));
    }

    #[test]
    fn a_real_process_is_found_by_its_name_and_its_children_by_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let blender = dir.path().join("blender");
        // A link, not a copy: a copy being written while another test thread forks
        // makes exec fail with "Text file busy". The process is still named for the link.
        std::os::unix::fs::symlink("/bin/sleep", &blender).unwrap();
        let apps = vec!["resolve".to_owned(), "BLENDER".to_owned()];
        assert_eq!(running_app(&apps), None);
        let mut child = std::process::Command::new(&blender)
            .arg("30")
            .spawn()
            .unwrap();
        // The name shows once the child has exec'd.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while comm(child.id()).as_deref() != Some("blender") {
            assert!(std::time::Instant::now() < deadline, "blender never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(running_app(&apps).as_deref(), Some("BLENDER"));
        let own = HashSet::from([std::process::id()]);
        assert!(with_descendants(&own).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(running_app(&apps), None);
    }
}
