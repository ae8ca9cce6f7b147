package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * A backend that answers wrongly, late or not at all gets a VhostUserException that says what
 * went wrong, within the front-end's timeouts; never a hang (each test is bounded well below the
 * fake backend's own 60-second stalls).
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class VhostUserFrontendFaultTest {

    private static final VhostUserFrontend.Options OPTIONS = VhostUserFrontend.Options.builder()
            .slots(4).maxBytes(512).replyTimeoutMs(300).completionTimeoutMs(300).build();

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "SILENT_ON_GET_FEATURES | GET_FEATURES: no message came within the socket's timeout",
        "WRONG_REQUEST_IN_REPLY | the backend answered GET_FEATURES with a reply to GET_PROTOCOL_FEATURES",
        "SHORT_REPLY            | GET_FEATURES: payload of 4 bytes, expected 8",
        "OVERSIZED_REPLY        | announces a payload of 1048576 bytes",
        "HALF_A_HEADER          | the peer sent 6 of the 12 bytes of a message header and then nothing",
        "REFUSE_MEM_TABLE       | the backend refused SET_MEM_TABLE (REPLY_ACK status 1)",
        "HANG_UP_ON_GET_CONFIG  | the backend closed the connection instead of answering GET_CONFIG"})
    void aHandshakeFaultIsAClearErrorNotAHang(FakeBackend.Fault fault, String expected) throws Exception {
        UnixSocket[] ours = new UnixSocket[1];
        try (FakeBackend backend = new FakeBackend(fault, ours)) {
            VhostUserException e = assertThrows(VhostUserException.class, () -> VhostUserFrontend.connect(ours[0], OPTIONS));
            assertTrue(e.getMessage().contains(expected.trim()), "message: " + e.getMessage());
            assertNull(backend.failure());
        }
    }

    @Test
    void aWellBehavedFakeServesEveryRequestOnce() throws Exception {
        UnixSocket[] ours = new UnixSocket[1];
        try (FakeBackend backend = new FakeBackend(FakeBackend.Fault.NONE, ours)) {
            VhostUserFrontend f = VhostUserFrontend.connect(ours[0], OPTIONS);
            try {
                assertEquals(FakeBackend.CAPACITY_SECTORS * 512, f.config().capacityBytes());
                FrontendDriver.Pass[] p = FrontendDriver.pass(f, VirtioBlkSpec.T_IN, 1000, 512, 4, 0, false);
                FrontendDriver.assertEachBlockOnce(p, 1000);
            } finally {
                f.close();
            }
            assertNull(backend.failure());
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "WRONG_HEAD           | queue 0: device returned descriptor",
        "DUPLICATE_COMPLETION | queue 0: device returned descriptor",
        "NEVER_COMPLETES      | queue 0: no completion within 300 ms with 4 requests in flight",
        "NO_STATUS            | with status 0xff, the value set before submitting: it never wrote one"})
    void aDataPathFaultIsAClearErrorNotAHang(FakeBackend.Fault fault, String expected) throws Exception {
        UnixSocket[] ours = new UnixSocket[1];
        try (FakeBackend backend = new FakeBackend(fault, ours)) {
            VhostUserFrontend f = VhostUserFrontend.connect(ours[0], OPTIONS);
            try {
                AssertionError e = assertThrows(AssertionError.class,
                        () -> FrontendDriver.pass(f, VirtioBlkSpec.T_IN, 1000, 512, 4, 0, false));
                Throwable cause = e.getCause();
                assertTrue(cause instanceof VhostUserException, "a VhostUserException, got " + cause);
                assertTrue(cause.getMessage().contains(expected.trim()), "message: " + cause.getMessage());
            } finally {
                f.close();
            }
        }
    }
}
