// Where the window is: one screen, and what it shows.

export type View =
  | { screen: "overview" }
  | { screen: "tasks" }
  | { screen: "task"; id: string }
  | { screen: "containers" }
  | { screen: "storage"; path: string | null; seq: number }
  | { screen: "settings" }
  | { screen: "new-task" };

export type Screen = View["screen"];

/** The sidebar entry lit for a screen (a task's page belongs to Tasks). */
export function navOf(screen: Screen): Exclude<Screen, "task"> {
  return screen === "task" ? "tasks" : screen;
}
