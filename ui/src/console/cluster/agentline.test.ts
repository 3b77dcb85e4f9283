import { describe, expect, it } from "vitest";
import { agentCommand, agentNotes, hubAddress, shellQuote, wizardSteps } from "./agentline";

describe("the agent line", () => {
  it("is the exact command with the hub's origin and the token", () => {
    expect(agentCommand("https://hub.example.com:8750", "gnt_AbC-123_xyz")).toBe(
      "gantry agent start --server https://hub.example.com:8750 --token gnt_AbC-123_xyz",
    );
  });

  it("keeps a URL with a path as one word", () => {
    expect(agentCommand("https://example.com/gantry", "t")).toBe("gantry agent start --server https://example.com/gantry --token t");
    expect(agentCommand("https://example.com/a b", "t")).toBe("gantry agent start --server 'https://example.com/a b' --token t");
  });

  it("shell-quotes a token a shell would read", () => {
    expect(shellQuote("plain_Token-1.2")).toBe("plain_Token-1.2");
    expect(shellQuote("a$b")).toBe("'a$b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("")).toBe("''");
    expect(agentCommand("http://127.0.0.1:8750", "x;rm -rf")).toBe("gantry agent start --server http://127.0.0.1:8750 --token 'x;rm -rf'");
  });

  it("takes the hub's address from the page's location, without the route or a trailing slash", () => {
    expect(hubAddress({ origin: "https://hub.example.com", pathname: "/" })).toBe("https://hub.example.com");
    expect(hubAddress({ origin: "http://10.0.0.2:8750", pathname: "/gantry/" })).toBe("http://10.0.0.2:8750/gantry");
  });

  it("notes the flags an address may need", () => {
    expect(agentNotes("http://127.0.0.1:8750")).toEqual([]);
    expect(agentNotes("https://hub.example.com").join(" ")).toMatch(/--ca-file/);
    expect(agentNotes("http://10.0.0.2:8750").join(" ")).toMatch(/--allow-insecure-http/);
  });

  it("gives the desktop wizard's steps: install, the address, the token, a CA file under TLS", () => {
    const steps = wizardSteps("https://hub.example.com");
    expect(steps[0]).toMatch(/Install the Gantry desktop app/);
    expect(steps.some((s) => s.includes("Server address") && s.includes("https://hub.example.com"))).toBe(true);
    expect(steps.some((s) => s.includes("Node token"))).toBe(true);
    expect(steps.some((s) => s.includes("CA file"))).toBe(true);
    expect(steps.at(-1)).toMatch(/Connect/);
    expect(wizardSteps("http://127.0.0.1:8750").some((s) => s.includes("CA file"))).toBe(false);
    expect(wizardSteps("http://10.1.2.3:8750").some((s) => s.includes("Allow plain http"))).toBe(true);
  });
});
