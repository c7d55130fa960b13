package io.spectro.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Splits text on added tokens the way Hugging Face's AddedVocabulary does: non-overlapping matches,
 * leftmost first and longest at that position (Aho-Corasick LeftmostLongest), honouring the
 * single_word, lstrip and rstrip flags.
 */
final class AddedTokens {
    /** One added token as declared in tokenizer.json. */
    record Token(int id, String content, boolean special, boolean singleWord, boolean lstrip,
                 boolean rstrip, boolean normalized) {}

    /** A piece of text: either an added token (id >= 0) or plain text (id = -1). */
    record Piece(int id, String text) {}

    private static final class Node {
        final Map<Character, Node> next = new HashMap<>();
        Token token;   // a pattern ends here
    }

    private final Node root = new Node();
    private final boolean empty;

    /** @param patterns tokens with the text to match (the content, normalized where the token is) */
    AddedTokens(List<Map.Entry<String, Token>> patterns) {
        for (var e : patterns) {
            if (e.getKey().isEmpty()) continue;
            Node n = root;
            for (char c : e.getKey().toCharArray()) n = n.next.computeIfAbsent(c, k -> new Node());
            if (n.token == null) n.token = e.getValue();
        }
        empty = root.next.isEmpty();
    }

    List<Piece> split(String s) {
        List<Piece> out = new ArrayList<>();
        if (empty || s.isEmpty()) {
            out.add(new Piece(-1, s));
            return out;
        }
        int startOffset = 0;   // end of the last emitted piece
        int i = 0;
        int n = s.length();
        while (i < n) {
            Node node = root;
            Token best = null;
            int bestEnd = -1;
            for (int j = i; j < n; j++) {
                node = node.next.get(s.charAt(j));
                if (node == null) break;
                if (node.token != null) {
                    best = node.token;
                    bestEnd = j + 1;
                }
            }
            if (best == null) {
                i++;
                continue;
            }
            int start = i, stop = bestEnd;
            if (best.singleWord()) {
                boolean startSpace = start == 0 || !isWordChar(s.codePointBefore(start));
                boolean stopSpace = stop == n || !isWordChar(s.codePointAt(stop));
                if (!startSpace || !stopSpace) {
                    i = bestEnd;   // the automaton resumes after the rejected match
                    continue;
                }
            }
            if (best.lstrip()) {
                int k = start;
                while (k > 0 && Character.isWhitespace(s.charAt(k - 1))) k--;
                start = Math.max(k, startOffset);
            }
            if (best.rstrip()) {
                while (stop < n && Character.isWhitespace(s.charAt(stop))) stop++;
            }
            if (startOffset < start) out.add(new Piece(-1, s.substring(startOffset, start)));
            out.add(new Piece(best.id(), s.substring(start, stop)));
            startOffset = stop;
            i = stop;
        }
        if (startOffset < n) out.add(new Piece(-1, s.substring(startOffset)));
        return out;
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }
}
