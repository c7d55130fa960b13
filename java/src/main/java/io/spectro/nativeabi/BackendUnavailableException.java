package io.spectro.nativeabi;

import io.spectro.SpectroException;

/** The requested backend cannot run here (library missing, wrong ABI version, no GPU, ...). */
public class BackendUnavailableException extends SpectroException {
    private final String kind;

    public BackendUnavailableException(String kind, String message) {
        super(message);
        this.kind = kind;
    }

    public BackendUnavailableException(String kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /** "cpu" or "cuda". */
    public String kind() {
        return kind;
    }
}
