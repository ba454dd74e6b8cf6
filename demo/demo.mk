# The bundled demo, built twice: with the static cudart (nvcc's default)
# and with the shared one.  Needs nvcc, not a GPU.

$(B)/demo/vgpu_demo_static: demo/vgpu_demo.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart static -o $@ $<

$(B)/demo/vgpu_demo_shared: demo/vgpu_demo.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart shared -o $@ $<

demo: $(B)/demo/vgpu_demo_static $(B)/demo/vgpu_demo_shared

# On a GPU host: the demo natively and through the shim, compared.
run: all demo
	tests/gpu/run-demo.sh $(B)
