import { describe, expect, it } from "vitest";
import { CPU, MEMORY, figureValues, gpuMemory, gpuUtil, noGpuWords } from "./figures";

describe("figures", () => {
  it("name CPU, memory and each GPU's values", () => {
    const gpus = [{ index: 2, utilization_percent: 7, memory_used_bytes: 9 }];
    expect(figureValues({ cpu_percent: 1, memory_used_bytes: 2, gpus })).toEqual({
      [CPU]: 1,
      [MEMORY]: 2,
      [gpuUtil(2)]: 7,
      [gpuMemory(2)]: 9,
    });
  });

  it("say why there is no GPU, naming the machine", () => {
    expect(noGpuWords("no_gpu", null, 0)).toMatch(/on this computer/);
    expect(noGpuWords("no_gpu", null, 0, "this node")).toMatch(/on this node/);
    expect(noGpuWords("available", null, 0, "this node")).toBe("No NVIDIA GPU was found on this node.");
    expect(noGpuWords("available", null, 1)).toBeNull();
    expect(noGpuWords("error", null, 0)).toBe("The NVIDIA driver did not answer: unknown error.");
  });
});
