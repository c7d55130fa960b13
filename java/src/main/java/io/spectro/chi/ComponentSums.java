package io.spectro.chi;

import io.spectro.SpectroException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

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
    private static final int MAGIC = 0x53504353; // "SPCS"

    public ComponentSums {
        if (sumL.length != sumPhiL.length) throw new IllegalArgumentException("sum arrays differ in length");
    }

    /** Writes atomically (temp file + rename), so a kill never leaves a half-written state. */
    public void write(Path file) {
        try {
            Files.createDirectories(file.getParent());
            // a unique temp name: a duplicate writer of the same run (a retried or speculative task) never shares it
            Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
            try (OutputStream os = Files.newOutputStream(tmp);
                 DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(os, 1 << 16))) {
                out.writeInt(MAGIC);
                out.writeLong(draws);
                out.writeDouble(sumPhi);
                out.writeDouble(sumPhiS);
                out.writeDouble(sumS);
                out.writeInt(sumL.length);
                for (double v : sumL) out.writeDouble(v);
                for (double v : sumPhiL) out.writeDouble(v);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot write component state (" + e.getMessage() + ")", e);
        }
    }

    public static ComponentSums read(Path file, int expectedTokens) {
        try (InputStream is = Files.newInputStream(file);
             DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(is, 1 << 16))) {
            if (in.readInt() != MAGIC) throw new SpectroException(file + ": not a spectro component state file");
            long k = in.readLong();
            double a = in.readDouble(), b = in.readDouble(), c = in.readDouble();
            int n = in.readInt();
            if (n != expectedTokens)
                throw new SpectroException(file + ": holds " + n + " probe tokens, the run has " + expectedTokens);
            double[] l = new double[n], pl = new double[n];
            for (int i = 0; i < n; i++) l[i] = in.readDouble();
            for (int i = 0; i < n; i++) pl[i] = in.readDouble();
            return new ComponentSums(k, a, b, c, l, pl);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read component state (" + e.getMessage() + "); delete it to recompute", e);
        }
    }
}
