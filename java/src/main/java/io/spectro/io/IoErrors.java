package io.spectro.io;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;

/**
 * The cause of an I/O failure in words. {@code AccessDeniedException} and its siblings carry only the
 * path in their message, so printing {@code e.getMessage()} loses the reason ("cannot write (/x/y)");
 * this names it: "access denied", "file exists", "not a directory", "no space left on device".
 */
public final class IoErrors {
    private IoErrors() {}

    /** "PATH: REASON" (or the plain message when the exception names no file). */
    public static String describe(Throwable e) {
        if (e instanceof ReadOnlyFileSystemException) return "read-only file system";
        if (!(e instanceof FileSystemException f)) {
            String m = e.getMessage();
            return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
        }
        String reason = f.getReason();
        if (reason == null || reason.isBlank()) reason = switch (f) {
            case AccessDeniedException a -> "access denied";
            case FileAlreadyExistsException a -> "file exists (a file is in the way of a file or directory to be written)";
            case NotDirectoryException a -> "not a directory";
            case NoSuchFileException a -> "no such file or directory";
            case DirectoryNotEmptyException a -> "directory not empty";
            default -> f.getClass().getSimpleName();
        };
        String where = f.getFile() == null ? "" : f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": ";
        return where + reason;
    }

    /** Whether {@code e} is an {@link IOException} (or wraps one) for the callers that catch broadly. */
    public static boolean isIo(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) if (t instanceof IOException) return true;
        return false;
    }
}
