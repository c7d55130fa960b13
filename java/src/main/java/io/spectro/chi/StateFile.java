package io.spectro.chi;

import io.spectro.SpectroException;

import io.spectro.io.Atomic;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The frame the run directory's binary state files share (component sums, per-chain sums, round state):
 * a magic number, the run's identity (run key, component index and name), the body, and a CRC32 of
 * everything before it. Files of a format before identities (a legacy magic) have neither.
 */
final class StateFile {
    private StateFile() {}

    /** A state file's body, between the identity and the checksum. */
    @FunctionalInterface
    interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    /** Writes {@code file} atomically ({@link Atomic}) in the frame: magic, identity, body, CRC32 of all before it. */
    static void write(Path file, int magic, String identity, Body body) {
        Atomic.write(file, os -> {
            CheckedOutputStream checked = new CheckedOutputStream(new BufferedOutputStream(os, 1 << 16), new CRC32());
            DataOutputStream out = new DataOutputStream(checked);
            out.writeInt(magic);
            out.writeUTF(identity);
            body.write(out);
            out.flush();
            new DataOutputStream(os).writeLong(checked.getChecksum().getValue());
            os.flush();
        });
    }

    /**
     * Reads the magic and the identity; refuses a file of another kind, run or component, naming it.
     *
     * @param legacy   the magic of the format without identity and checksum (0: none)
     * @param identity the expected identity (null: not checked)
     * @return whether the file has identity and checksum (false: legacy format)
     */
    static boolean header(DataInputStream in, Path file, int magic, int legacy, String identity, String kind, String again) throws IOException {
        int m = in.readInt();
        if (m != magic && (legacy == 0 || m != legacy)) throw new SpectroException(file + ": not a spectro " + kind + " file" + again);
        if (m != magic) return false;
        String id = in.readUTF();
        if (identity != null && !id.equals(identity))
            throw new SpectroException(file + ": belongs to another run or component (" + id + "; this one is " + identity + ")" + again);
        return true;
    }

    /** Checks the CRC32 (when {@code checksum}) and that nothing follows. */
    static void trailer(CheckedInputStream checked, Path file, boolean checksum, String again) throws IOException {
        if (checksum) {
            long sum = checked.getChecksum().getValue();
            if (new DataInputStream(checked).readLong() != sum) throw new SpectroException(file + ": checksum mismatch, the file is damaged" + again);
        }
        if (checked.read() != -1) throw new SpectroException(file + ": has bytes past its end, the file is damaged" + again);
    }
}
