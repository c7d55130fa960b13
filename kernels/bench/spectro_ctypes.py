"""ctypes binding of spectro.h (enough for the GPU checks: torch_ref.py). Works with either backend."""
import ctypes as C
import numpy as np


class Config(C.Structure):
    _fields_ = [("vocab_size", C.c_int32), ("d_model", C.c_int32), ("n_layers", C.c_int32), ("n_heads", C.c_int32),
                ("d_ff", C.c_int32), ("rotary_dims", C.c_int32), ("max_seq", C.c_int32),
                ("rotary_base", C.c_float), ("ln_eps", C.c_float)]


class Options(C.Structure):
    _fields_ = [("n_threads", C.c_int32), ("device", C.c_int32), ("precision", C.c_int32), ("max_batch", C.c_int32)]


class Block(C.Structure):
    _fields_ = [("offset", C.c_int64), ("rows", C.c_int64), ("cols", C.c_int64), ("stride", C.c_int64)]


class GradRequest(C.Structure):
    _fields_ = [("stop_layer", C.c_int32), ("blocks", C.POINTER(Block)), ("n_blocks", C.c_int32)]


class SgldParams(C.Structure):
    _fields_ = [("lr", C.c_float), ("nbeta", C.c_float), ("gamma", C.c_float), ("rmsprop", C.c_int32),
                ("alpha", C.c_float), ("rms_eps", C.c_float), ("noise_scale", C.c_float), ("stream", C.c_uint32),
                ("seed", C.c_uint64), ("step", C.c_uint64)]


F32P = np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")
F64P = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
I32P = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")
I64P = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
VP = C.c_void_p


class SpectroError(RuntimeError):
    def __init__(self, fn, status, msg):
        super().__init__(f"{fn} -> status {status}: {msg}")
        self.status = status


class Lib:
    def __init__(self, path):
        self.lib = L = C.CDLL(path, mode=C.RTLD_LOCAL)
        sig = {
            "sp_abi_version": (C.c_int32, []), "sp_backend_name": (C.c_char_p, []),
            "sp_last_error": (C.c_char_p, []), "sp_backend_probe": (C.c_int, []),
            "sp_param_count": (C.c_int64, [C.POINTER(Config)]),
            "sp_param_offsets": (C.c_int, [C.POINTER(Config), I64P, C.c_int32]),
            "sp_model_create": (C.c_int, [C.POINTER(Config), C.POINTER(Options), C.POINTER(VP)]),
            "sp_model_destroy": (C.c_int, [VP]),
            "sp_model_load": (C.c_int, [VP, F32P, C.c_int64]),
            "sp_params_read": (C.c_int, [VP, C.c_int64, C.c_int64, F32P]),
            "sp_params_write": (C.c_int, [VP, C.c_int64, C.c_int64, F32P]),
            "sp_params_reset": (C.c_int, [VP, C.POINTER(Block), C.c_int32]),
            "sp_grads_read": (C.c_int, [VP, C.c_int64, C.c_int64, F32P]),
            "sp_batch_create": (C.c_int, [VP, I32P, C.c_int32, C.c_int32, C.POINTER(VP)]),
            "sp_batch_destroy": (C.c_int, [VP]),
            "sp_batch_cache_at": (C.c_int, [VP, VP, C.c_int32]),
            "sp_forward": (C.c_int, [VP, VP, F32P, C.POINTER(C.c_double)]),
            "sp_forward_backward": (C.c_int, [VP, VP, C.POINTER(GradRequest), F32P, C.POINTER(C.c_double)]),
            "sp_buffer_create": (C.c_int, [VP, C.c_int64, C.POINTER(VP)]),
            "sp_buffer_destroy": (C.c_int, [VP]),
            "sp_buffer_read": (C.c_int, [VP, C.c_int64, C.c_int64, F32P]),
            "sp_sgld_update": (C.c_int, [VP, C.POINTER(Block), C.c_int32, VP, C.POINTER(SgldParams)]),
            "sp_noise": (C.c_int, [C.c_uint64, C.c_uint32, C.c_uint64, C.c_int64, C.c_int64, F32P]),
            "sp_accum_create": (C.c_int, [VP, C.c_int64, C.POINTER(VP)]),
            "sp_accum_destroy": (C.c_int, [VP]),
            "sp_accum_add": (C.c_int, [VP, VP, VP, C.c_double]),
            "sp_accum_read": (C.c_int, [VP, F64P, F64P]),
        }
        for name, (res, args) in sig.items():
            f = getattr(L, name)
            f.restype = res
            f.argtypes = args
        self.describe = None
        if hasattr(L, "sp_cuda_describe"):
            L.sp_cuda_describe.restype = C.c_char_p
            L.sp_cuda_describe.argtypes = [VP]
            self.describe = L.sp_cuda_describe

    def err(self):
        return self.lib.sp_last_error().decode(errors="replace")

    def call(self, name, *args, ok=(0,)):
        st = getattr(self.lib, name)(*args)
        if st not in ok:
            raise SpectroError(name, st, self.err())
        return st


def blocks_array(blocks):
    arr = (Block * max(1, len(blocks)))()
    for i, (o, r, c, s) in enumerate(blocks):
        arr[i] = Block(o, r, c, s)
    return arr


class Model:
    def __init__(self, lib, cfg: Config, precision=0, max_batch=1024, device=0):
        self.lib, self.cfg = lib, cfg
        self.h = VP()
        lib.call("sp_model_create", C.byref(cfg), C.byref(Options(0, device, precision, max_batch)), C.byref(self.h))
        self.P = lib.lib.sp_param_count(C.byref(cfg))
        nt = 4 + 12 * cfg.n_layers
        self.off = np.zeros(nt, dtype=np.int64)
        lib.call("sp_param_offsets", C.byref(cfg), self.off, nt)

    def describe(self):
        return self.lib.describe(self.h).decode() if self.lib.describe else ""

    def close(self):
        if self.h:
            self.lib.lib.sp_model_destroy(self.h)
            self.h = VP()

    def load(self, params):
        self.lib.call("sp_model_load", self.h, np.ascontiguousarray(params, dtype=np.float32), self.P)

    def params(self, off=0, n=None):
        n = self.P - off if n is None else n
        out = np.empty(n, dtype=np.float32)
        self.lib.call("sp_params_read", self.h, off, n, out)
        return out

    def grads(self, off=0, n=None):
        n = self.P - off if n is None else n
        out = np.empty(n, dtype=np.float32)
        self.lib.call("sp_grads_read", self.h, off, n, out)
        return out

    def batch(self, tokens):
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        b = VP()
        self.lib.call("sp_batch_create", self.h, tokens, tokens.shape[0], tokens.shape[1], C.byref(b))
        return b

    def forward(self, b, B, T):
        losses = np.empty(B * (T - 1), dtype=np.float32)
        mean = C.c_double()
        self.lib.call("sp_forward", self.h, b, losses, C.byref(mean))
        return losses, mean.value

    def forward_backward(self, b, B, T, stop=0, blocks=None):
        losses = np.empty(B * (T - 1), dtype=np.float32)
        mean = C.c_double()
        if blocks:
            arr = blocks_array(blocks)
            req = GradRequest(stop, C.cast(arr, C.POINTER(Block)), len(blocks))
        else:
            req = GradRequest(stop, None, 0)
        self.lib.call("sp_forward_backward", self.h, b, C.byref(req), losses, C.byref(mean))
        return losses, mean.value
