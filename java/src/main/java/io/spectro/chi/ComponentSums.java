package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.IoErrors;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;

/**
 * Streaming sums over all draws (all chains pooled) of one restricted run, the estimator's whole state
 * for a component: memory O(probe tokens), independent of the number of draws.
 *
 * @param draws   K, the number of draws
 * @param sumPhi  sum_k phi[k]
 * @param sumPhiS sum_k phi[k] * S[k]
 * @param sumS    sum_k S[k]
 * @param sumL    sum_k l[k, t] per probe token
 * @param sumPhiL sum_k phi[k] * l[k, t] per probe token
 */
public record ComponentSums(long draws, double sumPhi, double sumPhiS, double sumS, double[] sumL, double[] sumPhiL) {
    private static final int MAGIC = 0x53504332; // "SPC2": with identity and checksum
    private static final int LEGACY_MAGIC = 0x53504353; // "SPCS"

    public ComponentSums {
        if (sumL.length != sumPhiL.length) throw new IllegalArgumentException("sum arrays differ in length");
    }

    /**
     * Writes atomically (a fresh temp file + rename, so a kill never leaves a half-written state and
     * two processes writing the same component never share a temp file). The file carries
     * {@code identity} (the run's key and the component's index and name) and a CRC32 of its
     * contents, which {@link #read} checks.
     */
    public void write(Path file, String identity) {
        StateFile.write(file, MAGIC, identity, out -> {
            out.writeLong(draws);
            out.writeDouble(sumPhi);
            out.writeDouble(sumPhiS);
            out.writeDouble(sumS);
            out.writeInt(sumL.length);
            for (double v : sumL) out.writeDouble(v);
            for (double v : sumPhiL) out.writeDouble(v);
        });
    }

    /**
     * Reads a state file written by {@link #write} for {@code identity}; refuses another run's or
     * another component's file and a damaged one. Files of the format before identities
     * ({@code LEGACY_MAGIC}) are read without those checks, so runs started before still resume.
     * A null {@code identity} skips the identity check (for tools and tests that inspect one file; the
     * checksum is still checked).
     */
    public static ComponentSums read(Path file, int expectedTokens, String identity) {
        String again = "; delete it (and its .json) to recompute";
        try (InputStream is = Files.newInputStream(file)) {
            CheckedInputStream checked = new CheckedInputStream(new java.io.BufferedInputStream(is, 1 << 16), new CRC32());
            DataInputStream in = new DataInputStream(checked);
            boolean framed = StateFile.header(in, file, MAGIC, LEGACY_MAGIC, identity, "component state", again);
            long k = in.readLong();
            double a = in.readDouble(), b = in.readDouble(), c = in.readDouble();
            int n = in.readInt();
            if (n != expectedTokens)
                throw new SpectroException(file + ": holds " + n + " probe tokens, the run has " + expectedTokens + again);
            double[] l = new double[n], pl = new double[n];
            for (int i = 0; i < n; i++) l[i] = in.readDouble();
            for (int i = 0; i < n; i++) pl[i] = in.readDouble();
            StateFile.trailer(checked, file, framed, again);
            return new ComponentSums(k, a, b, c, l, pl);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read component state (" + IoErrors.describe(e) + ")" + again, e);
        }
    }
}
