package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;

/**
 * The estimator's sums kept per chain (state/NNNN.chains.bin beside the pooled state/NNNN.bin), for the
 * standard errors of χ and the split-half reliability ({@link ChiUncertainty}). Per token only the sum
 * the estimator needs from that run: sum_k phi*l[t] for a component, sum_k l[t] for the full run.
 * Memory and disk: chains x probe tokens doubles per component (4 x 4.25M x 8 B = 136 MB per component at
 * the published 1.4B scale, 56 GB for 410 components; the pooled state is 68 MB per component).
 *
 * @param perToken [chain][token]: sum phi*l (component) or sum l (full run)
 */
public record ChainSums(long[] draws, double[] sumPhi, double[] sumPhiS, double[] sumS, double[][] perToken) {
    private static final int MAGIC = 0x53504832; // "SPH2": with identity and checksum
    private static final int LEGACY_MAGIC = 0x53504348; // "SPCH"

    public ChainSums {
        int m = draws.length;
        if (sumPhi.length != m || sumPhiS.length != m || sumS.length != m || perToken.length != m)
            throw new IllegalArgumentException("per-chain arrays differ in length");
    }

    public int chains() {
        return draws.length;
    }

    /**
     * The pooled sums of chains [from, to) in the form the estimator takes: a component's sum phi*l[t]
     * (sum l left zero), or with {@code full} the full run's sum l[t].
     */
    public ComponentSums pooled(int from, int to, boolean full) {
        int n = perToken[0].length;
        long k = 0;
        double a = 0, b = 0, c = 0;
        double[] tok = new double[n];
        for (int i = from; i < to; i++) {
            k += draws[i];
            a += sumPhi[i];
            b += sumPhiS[i];
            c += sumS[i];
            for (int t = 0; t < n; t++) tok[t] += perToken[i][t];
        }
        double[] zero = new double[n];
        return full ? new ComponentSums(k, a, b, c, tok, zero) : new ComponentSums(k, a, b, c, zero, tok);
    }

    /** The chains file beside a state file: state/0003.bin -> state/0003.chains.bin. */
    static Path fileFor(Path state) {
        return state.resolveSibling(state.getFileName().toString().replace(".bin", ".chains.bin"));
    }

    /**
     * Writes atomically ({@link Atomic}: a temp file of its own + rename), in the format of
     * {@link ComponentSums#write}: magic "SPH2", {@code identity} (the run's key and the component's index
     * and name), the sums, a CRC32 of everything before it.
     */
    public void write(Path file, String identity) {
        StateFile.write(file, MAGIC, identity, out -> {
            out.writeInt(chains());
            out.writeInt(perToken[0].length);
            for (int c = 0; c < chains(); c++) {
                out.writeLong(draws[c]);
                out.writeDouble(sumPhi[c]);
                out.writeDouble(sumPhiS[c]);
                out.writeDouble(sumS[c]);
                for (double v : perToken[c]) out.writeDouble(v);
            }
        });
    }

    /**
     * Reads a chains file written for {@code identity}; null when there is none (a run written before
     * per-chain sums existed). Refuses another run's or component's file and a damaged one, naming it.
     * Files of the first format ("SPCH", no identity or checksum) are still read, with the size checks only.
     */
    public static ChainSums read(Path file, int chains, int tokens, String identity) {
        if (!Files.exists(file)) return null;
        String again = "; delete it and its .bin to recompute";
        try (InputStream is = Files.newInputStream(file)) {
            CheckedInputStream checked = new CheckedInputStream(new java.io.BufferedInputStream(is, 1 << 16), new CRC32());
            DataInputStream in = new DataInputStream(checked);
            boolean framed = StateFile.header(in, file, MAGIC, LEGACY_MAGIC, identity, "per-chain state", again);
            int m = in.readInt(), n = in.readInt();
            if (m != chains || n != tokens)
                throw new SpectroException(file + ": holds " + m + " chains x " + n + " tokens, the run has " + chains + " x " + tokens + again);
            long[] k = new long[m];
            double[] a = new double[m], b = new double[m], c = new double[m];
            double[][] tok = new double[m][n];
            for (int i = 0; i < m; i++) {
                k[i] = in.readLong();
                a[i] = in.readDouble();
                b[i] = in.readDouble();
                c[i] = in.readDouble();
                for (int t = 0; t < n; t++) tok[i][t] = in.readDouble();
            }
            StateFile.trailer(checked, file, framed, again);
            return new ChainSums(k, a, b, c, tok);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read per-chain state (" + IoErrors.describe(e) + ")" + again, e);
        }
    }
}
