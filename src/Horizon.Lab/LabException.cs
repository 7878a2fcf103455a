using Horizon.Config;

namespace Horizon.Lab;

/// <summary>The lab could not be built or removed on this machine (a missing tool or image, a command that failed); the message says which.</summary>
public sealed class LabException(string message) : TestbedException(message);
