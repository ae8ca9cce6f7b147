package org.mqblock.core.loop;

/** What producers read on every schedule or notify; written rarely, or by the notify protocol itself. */
abstract class AioContextSharedFields extends AioContextPad0 {
    static final int OPEN = 0;
    static final int CLOSING = 1;
    static final int CLOSED = 2;

    final String name;
    final NanoClock clock;
    final BottomHalves bottomHalves;
    /** Made once by the constructor; producers call its wakeup(). */
    final FdMonitor monitor;

    /** Any thread sets it (getAndSet); the home thread clears it (volatile store) as it accepts. */
    volatile boolean notified;

    /** Home thread writes (volatile store, once per sleep); producers read it (volatile) to decide whether to wake. */
    volatile int notifyMe;

    /** The closing thread writes it (volatile store); schedulers read it (volatile) after they enqueue. */
    volatile int closeState;

    /** Any thread, atomic add; read with volatile loads by the loop before each dispatch. */
    volatile int externalDisableCount;

    /** Set once by the first poller (CAS), read by any thread (volatile). */
    volatile Thread home;

    AioContextSharedFields(String name, NanoClock clock, FdMonitor.Factory monitorFactory) {
        this.name = name;
        this.clock = clock;
        this.bottomHalves = new BottomHalves((AioContext) this);
        this.monitor = monitorFactory.create((AioContext) this);
        if (monitor == null) {
            throw new IllegalArgumentException("FdMonitor factory returned null for AioContext '" + name + "'");
        }
    }
}
