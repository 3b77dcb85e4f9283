/*
 * A stand-in for NVIDIA's NVML (libnvidia-ml.so.1), for tests on machines
 * without an NVIDIA GPU. It exports the functions nvml-wrapper 0.13 calls for
 * what the agent's Monitor reads, and answers from a text file named by the
 * environment variable GANTRY_NVML_STANDIN (else gpus.txt beside the library
 * itself), read again on every call so a test may rewrite it while the agent
 * runs. One line per fact:
 *
 *   gpu  UUID TOTAL_BYTES FREE_BYTES TEMPERATURE_C UTILIZATION_PERCENT NAME...
 *   proc PID USED_BYTES compute|graphics [SM_PERCENT]  (a process on the last gpu)
 *   energy MILLIJOULES                       (the last gpu's energy counter)
 *   mig  UUID TOTAL_BYTES FREE_BYTES         (a MIG device of the last gpu,
 *                                             which is then in MIG mode)
 *
 * Device handles are small integers, never pointers: gpu g is 1 + g * 64,
 * its MIG device m is 1 + g * 64 + 1 + m. Built by gantry-testkit
 * (src/nvml_standin.rs) with the system's cc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUCCESS 0
#define INVALID_ARGUMENT 2
#define NOT_SUPPORTED 3
#define NOT_FOUND 6
#define INSUFFICIENT_SIZE 7
#define UNKNOWN 999

#define MAX_GPUS 16
#define MAX_MIGS 7
#define MAX_PROCS 32

typedef struct {
    char uuid[96];
    unsigned long long total, free;
} mig_t;

typedef struct {
    unsigned int pid;
    unsigned long long used;
    int graphics;
    unsigned int sm;
} proc_t;

typedef struct {
    char uuid[96];
    char name[96];
    unsigned long long total, free;
    unsigned int temperature, utilization;
    unsigned long long energy;
    proc_t procs[MAX_PROCS];
    int nprocs;
    mig_t migs[MAX_MIGS];
    int nmigs;
} gpu_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} process_info_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} memory_v2_t;

typedef struct {
    unsigned int gpu, memory;
} utilization_t;

static gpu_t gpus[MAX_GPUS];
static int ngpus;

/* Reads the file again; returns 0 when it cannot be read. */
static int load(void) {
    const char *path = getenv("GANTRY_NVML_STANDIN");
    char beside[4096];
    Dl_info self;
    ngpus = 0;
    if (!path && dladdr((void *)load, &self) && self.dli_fname) {
        char library[4096];
        snprintf(library, sizeof library, "%s", self.dli_fname);
        snprintf(beside, sizeof beside, "%s/gpus.txt", dirname(library));
        path = beside;
    }
    if (!path) return 0;
    FILE *file = fopen(path, "r");
    if (!file) return 0;
    char line[512];
    while (fgets(line, sizeof line, file)) {
        gpu_t *last = ngpus > 0 ? &gpus[ngpus - 1] : NULL;
        if (strncmp(line, "gpu ", 4) == 0 && ngpus < MAX_GPUS) {
            gpu_t *gpu = &gpus[ngpus];
            memset(gpu, 0, sizeof *gpu);
            if (sscanf(line + 4, "%95s %llu %llu %u %u %95[^\n]", gpu->uuid, &gpu->total,
                       &gpu->free, &gpu->temperature, &gpu->utilization, gpu->name) >= 5)
                ngpus++;
        } else if (strncmp(line, "proc ", 5) == 0 && last && last->nprocs < MAX_PROCS) {
            proc_t *proc = &last->procs[last->nprocs];
            char kind[16] = "compute";
            proc->sm = 0;
            if (sscanf(line + 5, "%u %llu %15s %u", &proc->pid, &proc->used, kind, &proc->sm) >= 2) {
                proc->graphics = strcmp(kind, "graphics") == 0;
                last->nprocs++;
            }
        } else if (strncmp(line, "energy ", 7) == 0 && last) {
            sscanf(line + 7, "%llu", &last->energy);
        } else if (strncmp(line, "mig ", 4) == 0 && last && last->nmigs < MAX_MIGS) {
            mig_t *mig = &last->migs[last->nmigs];
            if (sscanf(line + 4, "%95s %llu %llu", mig->uuid, &mig->total, &mig->free) == 3)
                last->nmigs++;
        }
    }
    fclose(file);
    return 1;
}

/* The gpu (and MIG device, or -1) a handle names after a fresh load. */
static int find(void *handle, gpu_t **gpu, int *mig) {
    uintptr_t value = (uintptr_t)handle;
    if (value == 0 || !load()) return 0;
    value -= 1;
    int g = (int)(value / 64), m = (int)(value % 64) - 1;
    if (g >= ngpus || m >= gpus[g].nmigs) return 0;
    *gpu = &gpus[g];
    *mig = m;
    return 1;
}

static int copy_string(const char *text, char *out, unsigned int length) {
    if (!out || strlen(text) + 1 > length) return INSUFFICIENT_SIZE;
    strcpy(out, text);
    return SUCCESS;
}

int nvmlInit_v2(void) { return load() ? SUCCESS : UNKNOWN; }
int nvmlInitWithFlags(unsigned int flags) { (void)flags; return nvmlInit_v2(); }
int nvmlShutdown(void) { return SUCCESS; }

const char *nvmlErrorString(int result) {
    switch (result) {
    case SUCCESS: return "Success";
    case INVALID_ARGUMENT: return "Invalid Argument";
    case NOT_SUPPORTED: return "Not Supported";
    case NOT_FOUND: return "Not Found";
    case INSUFFICIENT_SIZE: return "Insufficient Size";
    default: return "Unknown Error";
    }
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    return copy_string("550.0-standin", version, length);
}

int nvmlSystemGetCudaDriverVersion_v2(int *version) {
    if (!version) return INVALID_ARGUMENT;
    *version = 12040;
    return SUCCESS;
}

int nvmlSystemGetCudaDriverVersion(int *version) { return nvmlSystemGetCudaDriverVersion_v2(version); }

int nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!count) return INVALID_ARGUMENT;
    load();
    *count = (unsigned int)ngpus;
    return SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
    if (!device) return INVALID_ARGUMENT;
    load();
    if ((int)index >= ngpus) return INVALID_ARGUMENT;
    *device = (void *)(uintptr_t)(1 + index * 64);
    return SUCCESS;
}

int nvmlDeviceGetName(void *device, char *name, unsigned int length) {
    gpu_t *gpu; int mig;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) {
        char text[160];
        snprintf(text, sizeof text, "%s MIG %d", gpu->name, mig);
        return copy_string(text, name, length);
    }
    return copy_string(gpu->name, name, length);
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length) {
    gpu_t *gpu; int mig;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    return copy_string(mig >= 0 ? gpu->migs[mig].uuid : gpu->uuid, uuid, length);
}

static void memory_of(gpu_t *gpu, int mig, unsigned long long *total, unsigned long long *free) {
    *total = mig >= 0 ? gpu->migs[mig].total : gpu->total;
    *free = mig >= 0 ? gpu->migs[mig].free : gpu->free;
}

int nvmlDeviceGetMemoryInfo_v2(void *device, memory_v2_t *memory) {
    gpu_t *gpu; int mig;
    if (!memory) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    memory_of(gpu, mig, &memory->total, &memory->free);
    memory->reserved = 0;
    memory->used = memory->total - memory->free;
    return SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *device, unsigned long long *memory) {
    gpu_t *gpu; int mig;
    if (!memory) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    memory_of(gpu, mig, &memory[0], &memory[1]);
    memory[2] = memory[0] - memory[1];
    return SUCCESS;
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned int *temperature) {
    gpu_t *gpu; int mig;
    (void)sensor;
    if (!temperature) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    *temperature = gpu->temperature;
    return SUCCESS;
}

int nvmlDeviceGetUtilizationRates(void *device, utilization_t *rates) {
    gpu_t *gpu; int mig;
    if (!rates) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    rates->gpu = gpu->utilization;
    rates->memory = gpu->total ? (unsigned int)((gpu->total - gpu->free) * 100 / gpu->total) : 0;
    return SUCCESS;
}

/* NVML's two-call pattern: a short buffer gets INSUFFICIENT_SIZE and the count. */
static int processes(void *device, unsigned int *count, process_info_t *infos, int graphics) {
    gpu_t *gpu; int mig;
    if (!count) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    unsigned int found = 0;
    for (int i = 0; mig < 0 && i < gpu->nprocs; i++)
        if (gpu->procs[i].graphics == graphics) found++;
    if (found > *count || (!infos && found > 0)) {
        *count = found;
        return INSUFFICIENT_SIZE;
    }
    unsigned int at = 0;
    for (int i = 0; mig < 0 && i < gpu->nprocs; i++) {
        if (gpu->procs[i].graphics != graphics) continue;
        infos[at].pid = gpu->procs[i].pid;
        infos[at].usedGpuMemory = gpu->procs[i].used;
        infos[at].gpuInstanceId = 0xFFFFFFFFu;
        infos[at].computeInstanceId = 0xFFFFFFFFu;
        at++;
    }
    *count = found;
    return SUCCESS;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *device, unsigned int *count, process_info_t *infos) {
    return processes(device, count, infos, 0);
}

int nvmlDeviceGetGraphicsRunningProcesses_v3(void *device, unsigned int *count, process_info_t *infos) {
    return processes(device, count, infos, 1);
}

int nvmlDeviceGetMigMode(void *device, unsigned int *current, unsigned int *pending) {
    gpu_t *gpu; int mig;
    if (!current || !pending) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    *current = *pending = gpu->nmigs > 0 ? 1 : 0;
    return SUCCESS;
}

int nvmlDeviceGetMaxMigDeviceCount(void *device, unsigned int *count) {
    gpu_t *gpu; int mig;
    if (!count) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    *count = (unsigned int)gpu->nmigs;
    return SUCCESS;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void *device, unsigned int index, void **mig_device) {
    gpu_t *gpu; int mig;
    if (!mig_device) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    if ((int)index >= gpu->nmigs) return NOT_FOUND;
    *mig_device = (void *)((uintptr_t)device + 1 + index);
    return SUCCESS;
}

int nvmlDeviceIsMigDeviceHandle(void *device, unsigned int *is_mig) {
    gpu_t *gpu; int mig;
    if (!is_mig) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    *is_mig = mig >= 0;
    return SUCCESS;
}

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} process_utilization_t;

int nvmlDeviceGetProcessUtilization(void *device, process_utilization_t *samples, unsigned int *count,
                                    unsigned long long last_seen) {
    gpu_t *gpu; int mig;
    (void)last_seen;
    if (!count) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0) return NOT_SUPPORTED;
    unsigned int found = (unsigned int)gpu->nprocs;
    if (!samples || found > *count) {
        *count = found;
        return INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < gpu->nprocs; i++) {
        samples[i].pid = gpu->procs[i].pid;
        samples[i].timeStamp = 1;
        samples[i].smUtil = gpu->procs[i].sm;
        samples[i].memUtil = samples[i].encUtil = samples[i].decUtil = 0;
    }
    *count = found;
    return SUCCESS;
}

int nvmlDeviceGetTotalEnergyConsumption(void *device, unsigned long long *energy) {
    gpu_t *gpu; int mig;
    if (!energy) return INVALID_ARGUMENT;
    if (!find(device, &gpu, &mig)) return INVALID_ARGUMENT;
    if (mig >= 0 || gpu->energy == 0) return NOT_SUPPORTED;
    *energy = gpu->energy;
    return SUCCESS;
}
