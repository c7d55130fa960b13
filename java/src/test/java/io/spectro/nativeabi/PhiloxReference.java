package io.spectro.nativeabi;

/** An independent Java reading of the sp_noise definition in spectro.h (Philox4x32-10 + Box-Muller). */
final class PhiloxReference {
    private PhiloxReference() {}

    static int[] philox(int[] ctr, int k0, int k1) {
        int c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
        for (int r = 0; r < 10; r++) {
            long p0 = (0xD2511F53L) * (c0 & 0xffffffffL), p1 = (0xCD9E8D57L) * (c2 & 0xffffffffL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0, hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
            k0 += 0x9E3779B9;
            k1 += 0xBB67AE85;
        }
        return new int[]{c0, c1, c2, c3};
    }

    static float normal(long seed, int stream, long step, long element) {
        int[] x = philox(new int[]{(int) (element / 4), stream, (int) step, (int) (step >>> 32)}, (int) seed, (int) (seed >>> 32));
        double[] u = new double[4];
        for (int i = 0; i < 4; i++) u[i] = ((x[i] >>> 8) + 0.5) * 0x1p-24;
        int k = (int) (element % 4);
        double r = Math.sqrt(-2 * Math.log(u[k < 2 ? 0 : 2]));
        double a = 2 * Math.PI * u[k < 2 ? 1 : 3];
        return (float) (k % 2 == 0 ? r * Math.cos(a) : r * Math.sin(a));
    }
}
