package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.Socket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Closing the server while its clients go away by themselves: close must return only after its
 * own shutdown bottom halves ran, so that stopping and closing the IOThreads right after finds
 * nothing left alive. (It once waited only for the connection set to look empty, and a fresh
 * clone's NbdServerTest failed about one run in five with "closed with live bottom halves".)
 */
class NbdServerCloseTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void closeRacingWithClientsThatLeaveLeavesNoBottomHalfBehind() throws Exception {
        for (int round = 0; round < 40; round++) {
            NbdFixture f = new NbdFixture(2, "disk", "driver=memory,size=1M,queues=2");
            Socket[] clients = new Socket[4];
            for (int i = 0; i < clients.length; i++) {
                clients[i] = new Socket(f.tcp.getAddress(), f.tcp.getPort());
            }
            while (f.server.connectionCount() < clients.length) {
                Thread.sleep(1);
            }
            Thread leaver = new Thread(() -> {
                for (Socket s : clients) {
                    try {
                        s.close();
                    } catch (java.io.IOException e) {
                        // gone anyway
                    }
                }
            }, "clients-leave");
            leaver.start();
            f.close(); // stops and closes every IOThread: fails if a shutdown bottom half was left
            leaver.join();
            assertEquals(0, f.server.connectionCount(), "round " + round);
            for (var t : f.io) {
                assertEquals(0, t.failureCount(), "round " + round + ": " + t.firstFailure());
            }
        }
    }
}
