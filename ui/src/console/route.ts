// Where the console is: the hash of the URL, parsed. Hash routes keep the
// hub's side simple (it serves only `/` and `/assets/*`) and make every page
// a link that can be bookmarked, opened in a new tab, or sent to someone.
//
//   #/cluster (the default)   #/tasks   #/tasks/<id>   #/submit   #/tokens

/** One page of the console. */
export type Route =
  | { page: "cluster" }
  | { page: "tasks" }
  | { page: "task"; id: string }
  | { page: "submit" }
  | { page: "tokens" };

/** The navigation's entries (a task's page belongs to Tasks). */
export type Section = "cluster" | "tasks" | "submit" | "tokens";

export const SECTIONS: readonly Section[] = ["cluster", "tasks", "submit", "tokens"];

/** Where the console opens when the hash names no page. */
export const DEFAULT_ROUTE: Route = { page: "cluster" };

/**
 * The page a hash names (`location.hash`, with or without its `#`). Anything
 * unknown, malformed or empty is the default page, so a stale bookmark still
 * lands somewhere useful. A trailing slash and a query are ignored.
 */
export function parseRoute(hash: string): Route {
  let path = hash.startsWith("#") ? hash.slice(1) : hash;
  const query = path.indexOf("?");
  if (query >= 0) path = path.slice(0, query);
  const parts = path.split("/").filter((p) => p !== "");
  const [first, second, ...rest] = parts;
  if (rest.length > 0) return DEFAULT_ROUTE;
  switch (first) {
    case "cluster":
    case "submit":
    case "tokens":
      return second === undefined ? { page: first } : DEFAULT_ROUTE;
    case "tasks": {
      if (second === undefined) return { page: "tasks" };
      const id = decode(second);
      return id === null || id === "" ? { page: "tasks" } : { page: "task", id };
    }
    default:
      return DEFAULT_ROUTE;
  }
}

function decode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/** The hash of a page, for links: `#/tasks/<id>` with the id encoded. */
export function routeHash(route: Route): string {
  return route.page === "task" ? `#/tasks/${encodeURIComponent(route.id)}` : `#/${route.page}`;
}

/** The link to a task's page (for the pages' rows and links). */
export const taskHash = (id: string): string => routeHash({ page: "task", id });

/** The navigation entry lit for a page. */
export function sectionOf(route: Route): Section {
  return route.page === "task" ? "tasks" : route.page;
}

/** Whether two routes show the same page (so the view need not be rebuilt). */
export function sameRoute(a: Route, b: Route): boolean {
  return routeHash(a) === routeHash(b);
}

/** The words for a page, in the navigation and the document's title. */
export function routeTitle(route: Route): string {
  switch (route.page) {
    case "cluster":
      return "Cluster";
    case "tasks":
      return "Tasks";
    case "task":
      return `Task ${route.id}`;
    case "submit":
      return "Submit";
    case "tokens":
      return "Tokens";
  }
}
