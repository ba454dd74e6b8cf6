// A module whose globals alone are 128 MiB of device memory: loading it must
// count against the memory quota (tests/hostile/t-hostile.sh).
__device__ char big_globals[128u << 20];

extern "C" __global__ void touch_big_globals(unsigned int i)
{
	big_globals[i] = 1;
}
