package io.spectro.nativeabi;

import io.spectro.SpectroException;

/** A native ABI call returned a non-OK sp_status; carries the C function name, status and sp_last_error() text. */
public class NativeException extends SpectroException {
    private final String function;
    private final int status;
    private final String nativeMessage;

    public NativeException(String function, int status, String nativeMessage) {
        super(function + " failed (" + statusName(status) + "): " + (nativeMessage == null || nativeMessage.isEmpty()
                ? "no message from the native library" : nativeMessage));
        this.function = function;
        this.status = status;
        this.nativeMessage = nativeMessage == null ? "" : nativeMessage;
    }

    public String function() {
        return function;
    }

    public int status() {
        return status;
    }

    public String nativeMessage() {
        return nativeMessage;
    }

    public static String statusName(int s) {
        return switch (s) {
            case SpectroAbi.SP_OK -> "SP_OK";
            case SpectroAbi.SP_ERR_INVALID -> "SP_ERR_INVALID";
            case SpectroAbi.SP_ERR_OOM -> "SP_ERR_OOM";
            case SpectroAbi.SP_ERR_UNAVAILABLE -> "SP_ERR_UNAVAILABLE";
            case SpectroAbi.SP_ERR_NUMERIC -> "SP_ERR_NUMERIC";
            case SpectroAbi.SP_ERR_INTERNAL -> "SP_ERR_INTERNAL";
            default -> "status " + s;
        };
    }
}
