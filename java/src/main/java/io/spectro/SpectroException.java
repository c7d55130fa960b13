package io.spectro;

/**
 * A user-facing error: bad input file, bad option, unavailable backend. The CLI prints the message
 * (which names the file or option and what is wrong) and exits with status 2, without a stack trace.
 */
public class SpectroException extends RuntimeException {
    public SpectroException(String message) {
        super(message);
    }

    public SpectroException(String message, Throwable cause) {
        super(message, cause);
    }
}
