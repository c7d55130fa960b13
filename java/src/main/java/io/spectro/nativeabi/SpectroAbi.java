package io.spectro.nativeabi;

import io.spectro.model.Block;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Hand-written FFM bindings of native/include/spectro.h (jextract style): the struct layouts and
 * one MethodHandle per ABI function, bound to one loaded library (libspectro_cpu.so or
 * libspectro_cuda.so export the same symbols, so each {@link Backend} owns its own instance).
 *
 * <p>Struct offsets, checked against gcc 12 on x86-64 with offsetof():
 * sp_config 36 bytes (7 int32 then rotary_base @28, ln_eps @32, align 4); sp_options 16;
 * sp_block 32; sp_grad_request 24 (stop_layer @0, blocks @8, n_blocks @16, align 8);
 * sp_sgld_params 48 (lr @0, nbeta @4, gamma @8, rmsprop @12, alpha @16, rms_eps @20,
 * noise_scale @24, stream @28, seed @32, step @40, align 8). sp_status is a 4-byte enum.
 *
 * <p>Functions that only copy between host and backend memory (params/grads/buffer read and write,
 * batch upload, noise, accumulator read, offsets) are bound with {@code Linker.Option.critical(true)}
 * so that Java heap arrays pass without a copy; the long-running ones (model load, forward,
 * backward, SGLD, the per-tensor load from a mapped checkpoint) are ordinary downcalls that take native memory, so they never hold up the GC.
 */
public final class SpectroAbi {
    public static final StructLayout SP_CONFIG = MemoryLayout.structLayout(
            JAVA_INT.withName("vocab_size"), JAVA_INT.withName("d_model"), JAVA_INT.withName("n_layers"),
            JAVA_INT.withName("n_heads"), JAVA_INT.withName("d_ff"), JAVA_INT.withName("rotary_dims"),
            JAVA_INT.withName("max_seq"), JAVA_FLOAT.withName("rotary_base"), JAVA_FLOAT.withName("ln_eps")
    ).withName("sp_config");
    public static final StructLayout SP_OPTIONS = MemoryLayout.structLayout(
            JAVA_INT.withName("n_threads"), JAVA_INT.withName("device"), JAVA_INT.withName("precision"),
            JAVA_INT.withName("max_batch")
    ).withName("sp_options");
    public static final StructLayout SP_BLOCK = MemoryLayout.structLayout(
            JAVA_LONG.withName("offset"), JAVA_LONG.withName("rows"), JAVA_LONG.withName("cols"), JAVA_LONG.withName("stride")
    ).withName("sp_block");
    public static final StructLayout SP_GRAD_REQUEST = MemoryLayout.structLayout(
            JAVA_INT.withName("stop_layer"), MemoryLayout.paddingLayout(4), ADDRESS.withName("blocks"),
            JAVA_INT.withName("n_blocks"), MemoryLayout.paddingLayout(4)
    ).withName("sp_grad_request");
    public static final StructLayout SP_SGLD_PARAMS = MemoryLayout.structLayout(
            JAVA_FLOAT.withName("lr"), JAVA_FLOAT.withName("nbeta"), JAVA_FLOAT.withName("gamma"),
            JAVA_INT.withName("rmsprop"), JAVA_FLOAT.withName("alpha"), JAVA_FLOAT.withName("rms_eps"),
            JAVA_FLOAT.withName("noise_scale"), JAVA_INT.withName("stream"), JAVA_LONG.withName("seed"),
            JAVA_LONG.withName("step")
    ).withName("sp_sgld_params");

    public static final int SP_OK = 0, SP_ERR_INVALID = 1, SP_ERR_OOM = 2, SP_ERR_UNAVAILABLE = 3,
            SP_ERR_NUMERIC = 4, SP_ERR_INTERNAL = 5;
    public static final int SP_PRECISION_FP32 = 0, SP_PRECISION_BF16 = 1;
    public static final int SP_DTYPE_F32 = 0, SP_DTYPE_F16 = 1, SP_DTYPE_BF16 = 2;

    /** The sp_dtype of a safetensors dtype name (F32, F16, BF16); IllegalArgumentException for any other. */
    static int dtype(String safetensorsDtype) {
        return switch (safetensorsDtype) {
            case "F32" -> SP_DTYPE_F32;
            case "F16" -> SP_DTYPE_F16;
            case "BF16" -> SP_DTYPE_BF16;
            default -> throw new IllegalArgumentException("dtype " + safetensorsDtype + " cannot be loaded; only F32, F16 and BF16");
        };
    }

    static long offset(StructLayout s, String name) {
        return s.byteOffset(MemoryLayout.PathElement.groupElement(name));
    }

    private static final FunctionDescriptor I_V = FunctionDescriptor.of(JAVA_INT);
    private static final FunctionDescriptor P_V = FunctionDescriptor.of(ADDRESS);
    private static final FunctionDescriptor I_P = FunctionDescriptor.of(JAVA_INT, ADDRESS);
    private static final FunctionDescriptor I_PP = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
    private static final FunctionDescriptor I_PPP = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final FunctionDescriptor I_PPPP = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final FunctionDescriptor I_PLP = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS);
    private static final FunctionDescriptor I_PLLP = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final FunctionDescriptor I_PPI = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);

    public final Path library;
    final MethodHandle abiVersion, backendName, lastError, backendProbe;
    final MethodHandle configValidate, paramCount, paramOffsets;
    final MethodHandle modelCreate, modelDestroy, modelLoad, modelLoadTensor, paramsRead, paramsWrite, paramsReset, gradsRead;
    final MethodHandle batchCreate, batchDestroy, batchCacheAt, batchCacheBytes, memoryAvailable;
    final MethodHandle forward, forwardBackward, featureCount, forwardFeatures, featureName;
    final MethodHandle bufferCreate, bufferDestroy, bufferRead, bufferWrite;
    final MethodHandle sgldUpdate, noise;
    final MethodHandle accumCreate, accumDestroy, accumAdd, accumRead, accumReset;

    /** Binds every function of spectro.h in {@code lookup}; throws IllegalArgumentException naming a missing symbol. */
    SpectroAbi(Path library, SymbolLookup lookup) {
        this.library = library;
        Binder b = new Binder(lookup);
        abiVersion = b.fn("sp_abi_version", I_V, false);
        backendName = b.fn("sp_backend_name", P_V, false);
        lastError = b.fn("sp_last_error", P_V, false);
        backendProbe = b.fn("sp_backend_probe", I_V, false);
        configValidate = b.fn("sp_config_validate", I_P, false);
        paramCount = b.fn("sp_param_count", FunctionDescriptor.of(JAVA_LONG, ADDRESS), false);
        paramOffsets = b.fn("sp_param_offsets", I_PPI, true);
        modelCreate = b.fn("sp_model_create", I_PPP, false);
        modelDestroy = b.fn("sp_model_destroy", I_P, false);
        modelLoad = b.fn("sp_model_load", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), false);
        modelLoadTensor = b.fn("sp_model_load_tensor",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), false);
        paramsRead = b.fn("sp_params_read", I_PLLP, true);
        paramsWrite = b.fn("sp_params_write", I_PLLP, true);
        paramsReset = b.fn("sp_params_reset", I_PPI, false);
        gradsRead = b.fn("sp_grads_read", I_PLLP, true);
        batchCreate = b.fn("sp_batch_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS), true);
        batchDestroy = b.fn("sp_batch_destroy", I_P, false);
        batchCacheAt = b.fn("sp_batch_cache_at", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), false);
        batchCacheBytes = b.fn("sp_batch_cache_bytes", FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT), false);
        memoryAvailable = b.fn("sp_memory_available", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
        forward = b.fn("sp_forward", I_PPPP, false);
        featureCount = b.fn("sp_feature_count", FunctionDescriptor.of(JAVA_LONG, ADDRESS), false);
        forwardFeatures = b.fn("sp_forward_features", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), false);
        featureName = b.fn("sp_feature_name", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_INT), false);
        forwardBackward = b.fn("sp_forward_backward", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS), false);
        bufferCreate = b.fn("sp_buffer_create", I_PLP, false);
        bufferDestroy = b.fn("sp_buffer_destroy", I_P, false);
        bufferRead = b.fn("sp_buffer_read", I_PLLP, true);
        bufferWrite = b.fn("sp_buffer_write", I_PLLP, true);
        sgldUpdate = b.fn("sp_sgld_update", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), false);
        noise = b.fn("sp_noise", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS), true);
        accumCreate = b.fn("sp_accum_create", I_PLP, false);
        accumDestroy = b.fn("sp_accum_destroy", I_P, false);
        accumAdd = b.fn("sp_accum_add", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_DOUBLE), false);
        accumRead = b.fn("sp_accum_read", I_PPP, true);
        accumReset = b.fn("sp_accum_reset", I_P, false);
    }

    private record Binder(SymbolLookup lookup) {
        MethodHandle fn(String name, FunctionDescriptor fd, boolean critical) {
            MemorySegment addr = lookup.find(name).orElseThrow(() -> new IllegalArgumentException("symbol " + name + " is missing"));
            return critical ? Linker.nativeLinker().downcallHandle(addr, fd, Linker.Option.critical(true))
                    : Linker.nativeLinker().downcallHandle(addr, fd);
        }
    }

    /** Wraps the Throwable that invokeExact declares; native code itself never throws. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    // ------------------------------------------------------------------ typed wrappers (no status check)

    int abiVersion() {
        try {
            return (int) abiVersion.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String backendName() {
        try {
            return cString((MemorySegment) backendName.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sp_last_error() of the calling thread ("" when none). */
    public String lastError() {
        try {
            return cString((MemorySegment) lastError.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int backendProbe() {
        try {
            return (int) backendProbe.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String cString(MemorySegment p) {
        if (p == null || p.equals(MemorySegment.NULL)) return "";
        return p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Throws {@link NativeException} when {@code status != SP_OK}, with sp_last_error() of this thread. */
    void check(int status, String function) {
        if (status != SP_OK) throw new NativeException(function, status, lastError());
    }

    /** Fills an sp_config struct. */
    static void putConfig(MemorySegment s, io.spectro.model.ModelConfig c) {
        s.set(JAVA_INT, offset(SP_CONFIG, "vocab_size"), c.vocabSize());
        s.set(JAVA_INT, offset(SP_CONFIG, "d_model"), c.dModel());
        s.set(JAVA_INT, offset(SP_CONFIG, "n_layers"), c.nLayers());
        s.set(JAVA_INT, offset(SP_CONFIG, "n_heads"), c.nHeads());
        s.set(JAVA_INT, offset(SP_CONFIG, "d_ff"), c.dFf());
        s.set(JAVA_INT, offset(SP_CONFIG, "rotary_dims"), c.rotaryDims());
        s.set(JAVA_INT, offset(SP_CONFIG, "max_seq"), c.maxSeq());
        s.set(JAVA_FLOAT, offset(SP_CONFIG, "rotary_base"), c.rotaryBase());
        s.set(JAVA_FLOAT, offset(SP_CONFIG, "ln_eps"), c.lnEps());
    }

    /** Writes blocks into an sp_block array segment. */
    static void putBlocks(MemorySegment s, Block[] blocks) {
        for (int i = 0; i < blocks.length; i++) {
            long base = i * SP_BLOCK.byteSize();
            s.set(JAVA_LONG, base + offset(SP_BLOCK, "offset"), blocks[i].offset());
            s.set(JAVA_LONG, base + offset(SP_BLOCK, "rows"), blocks[i].rows());
            s.set(JAVA_LONG, base + offset(SP_BLOCK, "cols"), blocks[i].cols());
            s.set(JAVA_LONG, base + offset(SP_BLOCK, "stride"), blocks[i].stride());
        }
    }

    static void putSgld(MemorySegment s, SgldParams p) {
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "lr"), p.lr());
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "nbeta"), p.nbeta());
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "gamma"), p.gamma());
        s.set(JAVA_INT, offset(SP_SGLD_PARAMS, "rmsprop"), p.rmsprop() ? 1 : 0);
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "alpha"), p.alpha());
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "rms_eps"), p.rmsEps());
        s.set(JAVA_FLOAT, offset(SP_SGLD_PARAMS, "noise_scale"), p.noiseScale());
        s.set(JAVA_INT, offset(SP_SGLD_PARAMS, "stream"), p.stream());
        s.set(JAVA_LONG, offset(SP_SGLD_PARAMS, "seed"), p.seed());
        s.set(JAVA_LONG, offset(SP_SGLD_PARAMS, "step"), p.step());
    }
}
