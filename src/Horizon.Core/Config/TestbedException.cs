namespace Horizon.Config;

/// <summary>
/// An operational failure on the testbed: a guest, host, peer or tool that does not do what the experiment needs (a
/// missing package, a failed prepare step, a placement the platform did not take, an SSH key refused), said plainly
/// for the user. It fails the experiment it happened in, never the campaign. Kept apart from
/// <see cref="InvalidOperationException"/>, which stays a bug: catch filters for this type cannot hide one.
/// </summary>
public class TestbedException : Exception
{
    public TestbedException(string message)
        : base(message)
    {
    }

    public TestbedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
